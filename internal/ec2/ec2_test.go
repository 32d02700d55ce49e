package ec2

import (
	"strings"
	"testing"
)

// TestLookup holds rows of the table to AWS's published capacities, one or
// more of each shape (general purpose, compute, memory, burstable, GPU).
func TestLookup(t *testing.T) {
	tests := []struct {
		name      string
		vcpus     int
		memoryMiB int64
		gpus      int
		gpuModel  string
	}{
		{"t3.nano", 2, 512, 0, ""},
		{"t3a.2xlarge", 8, 32 << 10, 0, ""},
		{"m5.large", 2, 8 << 10, 0, ""},
		{"m6a.48xlarge", 192, 768 << 10, 0, ""},
		{"m7i.48xlarge", 192, 768 << 10, 0, ""},
		{"c5.9xlarge", 36, 72 << 10, 0, ""},
		{"c6i.32xlarge", 128, 256 << 10, 0, ""},
		{"r5.xlarge", 4, 32 << 10, 0, ""},
		{"r6i.32xlarge", 128, 1024 << 10, 0, ""},
		{"p3.2xlarge", 8, 61 << 10, 1, "V100"},
		{"p3.16xlarge", 64, 488 << 10, 8, "V100"},
		{"p3dn.24xlarge", 96, 768 << 10, 8, "V100"},
		{"p4d.24xlarge", 96, 1152 << 10, 8, "A100"},
		{"p5.48xlarge", 192, 2048 << 10, 8, "H100"},
		{"g4dn.xlarge", 4, 16 << 10, 1, "T4"},
		{"g4dn.12xlarge", 48, 192 << 10, 4, "T4"},
		{"g4dn.metal", 96, 384 << 10, 8, "T4"},
		{"g5.12xlarge", 48, 192 << 10, 4, "A10G"},
		{"g5.48xlarge", 192, 768 << 10, 8, "A10G"},
		{"g6.24xlarge", 96, 384 << 10, 4, "L4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := Lookup(tt.name)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", tt.name)
			}
			want := Machine{Name: tt.name, VCPUs: tt.vcpus, MemoryMiB: tt.memoryMiB, GPUs: tt.gpus, GPUModel: tt.gpuModel}
			if m != want {
				t.Errorf("Lookup(%q) = %+v, want %+v", tt.name, m, want)
			}
		})
	}
}

// TestLookupUnknown refuses sizes a family does not have, families the
// table does not have, and names that are no machine type.
func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{
		"g4dn.24xlarge", // g4dn stops at 16xlarge and metal
		"g4dn.48xlarge",
		"m5.nano",
		"c5.16xlarge", // c5 has 18xlarge, not 16xlarge
		"x2idn.large",
		"p3",
		"",
		"M5.LARGE",
	} {
		if m, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want none", name, m)
		}
	}
}

// TestTableIsConsistent checks every row: a GPU model exactly where there
// are GPUs, GPUs only in the GPU families, capacity everywhere.
func TestTableIsConsistent(t *testing.T) {
	gpuFamily := map[string]bool{}
	for _, f := range Families(true) {
		gpuFamily[f] = true
	}
	if len(machines) < 100 {
		t.Fatalf("the table has only %d machine types", len(machines))
	}
	for name, m := range machines {
		fam, _, _ := strings.Cut(name, ".")
		switch {
		case m.Name != name:
			t.Errorf("%s is called %s", name, m.Name)
		case m.VCPUs <= 0 || m.MemoryMiB <= 0:
			t.Errorf("%s has no capacity: %+v", name, m)
		case (m.GPUs > 0) != gpuFamily[fam]:
			t.Errorf("%s has %d GPUs in family %s (GPU family: %v)", name, m.GPUs, fam, gpuFamily[fam])
		case (m.GPUModel != "") != (m.GPUs > 0):
			t.Errorf("%s: GPU model %q with %d GPUs", name, m.GPUModel, m.GPUs)
		}
	}
}

func TestFamilies(t *testing.T) {
	if got, want := strings.Join(Families(true), " "), "p3 p3dn p4d p4de p5 g4dn g5 g6"; got != want {
		t.Errorf("Families(true) = %s, want %s", got, want)
	}
	if got, want := strings.Join(Families(false), " "), "t3 t3a m5 m5a m6i m6a m7i c5 c6i r5 r6i"; got != want {
		t.Errorf("Families(false) = %s, want %s", got, want)
	}
}

func TestQuantitiesAndString(t *testing.T) {
	tests := []struct {
		name, cpu, memory, str string
	}{
		{"t3.nano", "2", "512Mi", "t3.nano (2 vCPU, 512Mi)"},
		{"p3.8xlarge", "32", "244Gi", "p3.8xlarge (32 vCPU, 244Gi, 4 GPU V100)"},
		{"g5.12xlarge", "48", "192Gi", "g5.12xlarge (48 vCPU, 192Gi, 4 GPU A10G)"},
	}
	for _, tt := range tests {
		m, ok := Lookup(tt.name)
		if !ok {
			t.Fatalf("no %s", tt.name)
		}
		cpu, mem := m.CPU(), m.Memory()
		if cpu.String() != tt.cpu || mem.String() != tt.memory || m.String() != tt.str {
			t.Errorf("%s: CPU %s, Memory %s, String %q; want %s, %s, %q", tt.name, cpu.String(), mem.String(), m.String(), tt.cpu, tt.memory, tt.str)
		}
	}
	// The quantities compare with the requests a pod makes.
	m, _ := Lookup("m5.large")
	mem := m.Memory()
	if got := mem.Value(); got != 8<<30 {
		t.Errorf("m5.large memory = %d bytes, want %d", got, int64(8<<30))
	}
	cpu := m.CPU()
	if got := cpu.MilliValue(); got != 2000 {
		t.Errorf("m5.large cpu = %dm, want 2000m", got)
	}
}

// TestUnknown names the sizes of a known family, smallest first, or the
// families dmls knows.
func TestUnknown(t *testing.T) {
	got := Unknown("g5.huge")
	want := `unknown machine type "g5.huge"; the g5 types dmls knows are g5.xlarge, g5.2xlarge, g5.4xlarge, g5.8xlarge, g5.12xlarge, g5.16xlarge, g5.24xlarge, g5.48xlarge`
	if got != want {
		t.Errorf("Unknown(g5.huge) =\n%s\nwant\n%s", got, want)
	}
	// Sizes of one vCPU count sort by name; a family's name is no prefix
	// of another's (p3 is not p3dn).
	got = Unknown("p3.metal")
	want = `unknown machine type "p3.metal"; the p3 types dmls knows are p3.2xlarge, p3.8xlarge, p3.16xlarge`
	if got != want {
		t.Errorf("Unknown(p3.metal) =\n%s\nwant\n%s", got, want)
	}
	got = Unknown("t3.nano2")
	if !strings.HasSuffix(got, "t3.large, t3.medium, t3.micro, t3.nano, t3.small, t3.xlarge, t3.2xlarge") {
		t.Errorf("Unknown(t3.nano2) does not list the t3 sizes by vCPUs, then name: %s", got)
	}
	got = Unknown("z9.large")
	want = `unknown machine type "z9.large"; dmls knows the families t3, t3a, m5, m5a, m6i, m6a, m7i, c5, c6i, r5, r6i and the GPU families p3, p3dn, p4d, p4de, p5, g4dn, g5, g6 (internal/ec2)`
	if got != want {
		t.Errorf("Unknown(z9.large) =\n%s\nwant\n%s", got, want)
	}
}

func TestZoneRegion(t *testing.T) {
	for zone, want := range map[string]string{
		"us-east-1a":      "us-east-1",
		"eu-central-1c":   "eu-central-1",
		"us-gov-west-1b":  "us-gov-west-1",
		"ap-southeast-2a": "ap-southeast-2",
		"":                "",
	} {
		if got := ZoneRegion(zone); got != want {
			t.Errorf("ZoneRegion(%q) = %q, want %q", zone, got, want)
		}
	}
}
