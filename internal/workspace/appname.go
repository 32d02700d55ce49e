package workspace

import (
	"sync"

	"cuelang.org/go/cue"
)

// nameSchema is the schemas' own evaluator for single-value checks that
// other entry points (the API, the importer) make before a spec exists,
// so that the rule stays the schema's (one rule, one place).
var nameSchema struct {
	once sync.Once
	mu   sync.Mutex
	e    *evaluator
	err  error
}

// ValidAppName reports whether name is an #AppName of the schemas (a
// DNS-1035 label of at most 63 characters), as the loader will check it.
func ValidAppName(name string) bool { return matches("#AppName", name) }

// matches reports whether s is an instance of the schemas' definition def.
func matches(def, s string) bool {
	nameSchema.once.Do(func() { nameSchema.e, nameSchema.err = newEvaluator() })
	if nameSchema.err != nil {
		return false
	}
	nameSchema.mu.Lock()
	defer nameSchema.mu.Unlock()
	e := nameSchema.e
	v := e.schema.LookupPath(cue.ParsePath(def)).Unify(e.ctx.Encode(s))
	return v.Validate(cue.Concrete(true)) == nil
}
