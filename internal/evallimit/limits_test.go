package evallimit

import "testing"

func TestParseMemory(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		text    string
		wantErr bool
	}{
		{name: "GiB", in: "1Gi", want: 1 << 30, text: "1GiB"},
		{name: "MiB", in: "256Mi", want: 256 << 20, text: "256MiB"},
		{name: "bytes", in: "1000", want: 1000, text: "1000 bytes"},
		{name: "word", in: "lots", wantErr: true},
		{name: "negative", in: "-1Gi", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseMemory(%q) = %d, %v", tt.in, got, err)
			}
			if err != nil {
				return
			}
			if got != tt.want || formatBytes(got) != tt.text {
				t.Errorf("ParseMemory(%q) = %d (%s), want %d (%s)", tt.in, got, formatBytes(got), tt.want, tt.text)
			}
		})
	}
}
