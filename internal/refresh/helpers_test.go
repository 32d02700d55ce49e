package refresh

import (
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

func clientFor(t *testing.T, host string) dynamic.Interface {
	cl, err := dynamic.NewForConfig(&rest.Config{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
