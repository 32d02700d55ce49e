// Package ec2 is dmls's one table of EC2 machine types, with the vCPUs,
// memory and GPUs of each, which every cluster check reads, and the
// naming rules of AWS regions and zones.
package ec2

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Machine is one EC2 instance type.
type Machine struct {
	Name string
	// VCPUs and MemoryMiB are the machine's capacity.
	VCPUs     int
	MemoryMiB int64
	// GPUs is the number of NVIDIA GPUs per machine; 0 for none.
	GPUs int
	// GPUModel names the GPU, for messages.
	GPUModel string
}

// CPU returns the machine's vCPUs as a quantity.
func (m Machine) CPU() resource.Quantity {
	return *resource.NewQuantity(int64(m.VCPUs), resource.DecimalSI)
}

// Memory returns the machine's memory as a quantity.
func (m Machine) Memory() resource.Quantity {
	return *resource.NewQuantity(m.MemoryMiB<<20, resource.BinarySI)
}

// String describes the machine: "p3.8xlarge (32 vCPU, 244Gi, 4 GPU V100)".
func (m Machine) String() string {
	mem := m.Memory()
	s := fmt.Sprintf("%s (%d vCPU, %s", m.Name, m.VCPUs, mem.String())
	if m.GPUs > 0 {
		s += fmt.Sprintf(", %d GPU %s", m.GPUs, m.GPUModel)
	}
	return s + ")"
}

// family is a set of sizes with the same shape.
type family struct {
	name  string
	gpu   string
	sizes []size
}

type size struct {
	name   string
	vcpus  int
	memGiB float64
	gpus   int
}

// std are the sizes of the general-purpose families (4 GiB per vCPU).
var std = []size{
	{"large", 2, 8, 0}, {"xlarge", 4, 16, 0}, {"2xlarge", 8, 32, 0}, {"4xlarge", 16, 64, 0},
	{"8xlarge", 32, 128, 0}, {"12xlarge", 48, 192, 0}, {"16xlarge", 64, 256, 0}, {"24xlarge", 96, 384, 0},
}

func scale(sizes []size, memPerVCPU float64) []size {
	out := make([]size, len(sizes))
	for i, s := range sizes {
		out[i] = size{s.name, s.vcpus, float64(s.vcpus) * memPerVCPU, s.gpus}
	}
	return out
}

func with(sizes []size, more ...size) []size { return append(append([]size(nil), sizes...), more...) }

// gpuSizes are the sizes of the g4dn, g5 and g6 families.
func gpuSizes(big int) []size {
	return []size{
		{"xlarge", 4, 16, 1}, {"2xlarge", 8, 32, 1}, {"4xlarge", 16, 64, 1}, {"8xlarge", 32, 128, 1},
		{"16xlarge", 64, 256, 1}, {"12xlarge", 48, 192, 4}, {"24xlarge", 96, 384, big}, {"48xlarge", 192, 768, 8},
	}
}

// families is the table. GPU families: p3, p3dn, p4d, p4de, p5, g4dn,
// g5, g6; add new ones here and every check sees them.
var families = []family{
	{name: "t3", sizes: []size{{"nano", 2, 0.5, 0}, {"micro", 2, 1, 0}, {"small", 2, 2, 0}, {"medium", 2, 4, 0}, {"large", 2, 8, 0}, {"xlarge", 4, 16, 0}, {"2xlarge", 8, 32, 0}}},
	{name: "t3a", sizes: []size{{"nano", 2, 0.5, 0}, {"micro", 2, 1, 0}, {"small", 2, 2, 0}, {"medium", 2, 4, 0}, {"large", 2, 8, 0}, {"xlarge", 4, 16, 0}, {"2xlarge", 8, 32, 0}}},
	{name: "m5", sizes: std},
	{name: "m5a", sizes: std},
	{name: "m6i", sizes: with(std, size{"32xlarge", 128, 512, 0})},
	{name: "m6a", sizes: with(std, size{"32xlarge", 128, 512, 0}, size{"48xlarge", 192, 768, 0})},
	{name: "m7i", sizes: with(std, size{"48xlarge", 192, 768, 0})},
	{name: "c5", sizes: scale([]size{{"large", 2, 0, 0}, {"xlarge", 4, 0, 0}, {"2xlarge", 8, 0, 0}, {"4xlarge", 16, 0, 0}, {"9xlarge", 36, 0, 0}, {"12xlarge", 48, 0, 0}, {"18xlarge", 72, 0, 0}, {"24xlarge", 96, 0, 0}}, 2)},
	{name: "c6i", sizes: scale(with(std, size{"32xlarge", 128, 0, 0}), 2)},
	{name: "r5", sizes: scale(std, 8)},
	{name: "r6i", sizes: scale(with(std, size{"32xlarge", 128, 0, 0}), 8)},
	{name: "p3", gpu: "V100", sizes: []size{{"2xlarge", 8, 61, 1}, {"8xlarge", 32, 244, 4}, {"16xlarge", 64, 488, 8}}},
	{name: "p3dn", gpu: "V100", sizes: []size{{"24xlarge", 96, 768, 8}}},
	{name: "p4d", gpu: "A100", sizes: []size{{"24xlarge", 96, 1152, 8}}},
	{name: "p4de", gpu: "A100", sizes: []size{{"24xlarge", 96, 1152, 8}}},
	{name: "p5", gpu: "H100", sizes: []size{{"48xlarge", 192, 2048, 8}}},
	{name: "g4dn", gpu: "T4", sizes: with(gpuSizes(0)[:6], size{"metal", 96, 384, 8})},
	{name: "g5", gpu: "A10G", sizes: gpuSizes(4)},
	{name: "g6", gpu: "L4", sizes: gpuSizes(4)},
}

var machines = func() map[string]Machine {
	m := map[string]Machine{}
	for _, f := range families {
		for _, s := range f.sizes {
			name := f.name + "." + s.name
			m[name] = Machine{Name: name, VCPUs: s.vcpus, MemoryMiB: int64(s.memGiB * 1024), GPUs: s.gpus, GPUModel: f.gpu}
		}
	}
	return m
}()

// Lookup returns the machine type called name.
func Lookup(name string) (Machine, bool) {
	m, ok := machines[name]
	return m, ok
}

// Families returns the families of the table, GPU families when gpu is
// set, in table order.
func Families(gpu bool) []string {
	var out []string
	for _, f := range families {
		if (f.gpu != "") == gpu {
			out = append(out, f.name)
		}
	}
	return out
}

// Unknown explains that name is not in the table, suggesting the sizes of
// its family when the family is known.
func Unknown(name string) string {
	fam, _, _ := strings.Cut(name, ".")
	var sizes []string
	for n := range machines {
		if strings.HasPrefix(n, fam+".") {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) > 0 {
		sort.Slice(sizes, func(i, j int) bool {
			a, b := machines[sizes[i]], machines[sizes[j]]
			if a.VCPUs != b.VCPUs {
				return a.VCPUs < b.VCPUs
			}
			return a.Name < b.Name
		})
		return fmt.Sprintf("unknown machine type %q; the %s types dmls knows are %s", name, fam, strings.Join(sizes, ", "))
	}
	return fmt.Sprintf("unknown machine type %q; dmls knows the families %s and the GPU families %s (internal/ec2)", name,
		strings.Join(Families(false), ", "), strings.Join(Families(true), ", "))
}

// ZoneRegion returns the region of an availability zone: us-east-1a is in
// us-east-1.
func ZoneRegion(zone string) string {
	if zone == "" {
		return ""
	}
	return zone[:len(zone)-1]
}
