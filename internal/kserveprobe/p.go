package kserveprobe

import _ "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
