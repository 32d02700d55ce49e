// Package agree holds a hand-written subset of an upstream API's Go types
// to the upstream types themselves, so that an object built from the
// subset serialises as one built from upstream's types would.
package agree

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Fields compares local, a struct type of a hand-written subset, with
// upstream, the upstream type of the same name, and returns what differs:
//   - every field of local must be a field of upstream with the same Go
//     name and JSON tag, and of an agreeing type: the same type where it
//     is not declared in local's package, or else of the same kind and,
//     for a struct, agreeing field by field;
//   - every field of upstream that serialises when it is zero (a value
//     without omitempty, or a struct holding one) must be in local, or the
//     subset's objects would miss it. skip names top-level fields that
//     need not be, such as a status the generators drop.
func Fields(local, upstream reflect.Type, skip ...string) []string {
	c := checker{pkg: local.PkgPath(), seen: map[[2]reflect.Type]bool{}}
	c.structs(local, upstream, local.Name(), skip)
	return c.errs
}

type checker struct {
	pkg  string
	seen map[[2]reflect.Type]bool
	errs []string
}

func (c *checker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *checker) structs(l, u reflect.Type, path string, skip []string) {
	if c.seen[[2]reflect.Type{l, u}] {
		return
	}
	c.seen[[2]reflect.Type{l, u}] = true
	if u.Kind() != reflect.Struct {
		c.errorf("%s: a struct here, a %s upstream", path, u.Kind())
		return
	}
	if l.Name() != "" && l.Name() != u.Name() {
		c.errorf("%s: type %s here, %s upstream", path, l.Name(), u.Name())
	}
	for i := 0; i < l.NumField(); i++ {
		lf := l.Field(i)
		uf, ok := u.FieldByName(lf.Name)
		if !ok || len(uf.Index) != 1 {
			c.errorf("%s.%s: no such field upstream", path, lf.Name)
			continue
		}
		if lt, ut := lf.Tag.Get("json"), uf.Tag.Get("json"); lt != ut {
			c.errorf("%s.%s: JSON tag %q here, %q upstream", path, lf.Name, lt, ut)
		}
		c.types(lf.Type, uf.Type, path+"."+lf.Name)
	}
	for i := 0; i < u.NumField(); i++ {
		uf := u.Field(i)
		if _, ok := l.FieldByName(uf.Name); ok || (path == l.Name() && slices.Contains(skip, uf.Name)) {
			continue
		}
		if showsWhenZero(uf, map[reflect.Type]bool{}) {
			c.errorf("%s.%s: missing here, and upstream writes it even when it is zero", path, uf.Name)
		}
	}
}

func (c *checker) types(l, u reflect.Type, path string) {
	if l.PkgPath() != "" && l.PkgPath() != c.pkg {
		// A type of another package, such as metav1.GroupKind: upstream's
		// own.
		if l != u {
			c.errorf("%s: type %s here, %s upstream", path, l, u)
		}
		return
	}
	if l.Kind() != u.Kind() {
		c.errorf("%s: a %s here, a %s upstream", path, l.Kind(), u.Kind())
		return
	}
	switch l.Kind() {
	case reflect.Pointer, reflect.Slice:
		c.types(l.Elem(), u.Elem(), path+"[]")
	case reflect.Map:
		c.types(l.Key(), u.Key(), path+"{key}")
		c.types(l.Elem(), u.Elem(), path+"{}")
	case reflect.Struct:
		c.structs(l, u, path, nil)
	}
}

// showsWhenZero says whether f, at its zero value, is in the object dmls
// writes: generators.New drops nils and empty maps, so only a scalar
// without omitempty, or a struct holding one, is.
func showsWhenZero(f reflect.StructField, seen map[reflect.Type]bool) bool {
	name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return false
	}
	t := f.Type
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return false
	case reflect.Struct:
		if seen[t] {
			return false
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			if showsWhenZero(t.Field(i), seen) {
				return true
			}
		}
		return false
	}
	return !slices.Contains(strings.Split(opts, ","), "omitempty")
}
