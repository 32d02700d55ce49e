package schema

import (
	"sync"

	"cuelang.org/go/cue"

	"github.com/dmls-project/dmls/internal/provenance"
)

// nameSchema is the schemas' own evaluator for single-value checks that
// other entry points (the API, the importer) make before a spec exists,
// so that the rule stays the schema's (one rule, one place).
var nameSchema struct {
	once sync.Once
	mu   sync.Mutex
	e    *Evaluator
	err  error
}

// ValidAppName reports whether name is an #AppName of the schemas (a
// DNS-1035 label of at most 63 characters), as the loader will check it.
func ValidAppName(name string) bool { return AppNameProblem(name) == "" }

// AppNameProblem returns what is wrong with name as an #AppName, in the
// words the loader uses for an app's name field, or "" when it is valid.
func AppNameProblem(name string) string { return problem("#AppName", name) }

// problem checks s against the schemas' definition def and returns the
// first finding's message, or "" when s is an instance of def.
func problem(def, s string) string {
	nameSchema.once.Do(func() { nameSchema.e, nameSchema.err = NewEvaluator() })
	if nameSchema.err != nil {
		return nameSchema.err.Error()
	}
	nameSchema.mu.Lock()
	defer nameSchema.mu.Unlock()
	e := nameSchema.e
	v := e.schema.LookupPath(cue.ParsePath(def)).Unify(e.ctx.Encode(s))
	err := v.Validate(cue.Concrete(true))
	if err == nil {
		return ""
	}
	if d := FromCUE(err, def, nil, provenance.Pos{}); len(d) > 0 {
		return d[0].Message
	}
	return err.Error()
}
