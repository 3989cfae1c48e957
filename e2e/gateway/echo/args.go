package main

import (
	"fmt"
	"strings"
)

// Both commands take GNU-style flags as the suite and Istio's echo pass them:
// --name=value, --name value, -H value, flags before or after the positional
// arguments, and repeatable flags (--port=8080 --port=8443).

type flagKind int

const (
	valueFlag flagKind = iota // takes a value
	boolFlag                  // true when present, or --name=true|false
)

type flagSpec struct {
	names []string // "port", "H" (one dash for one letter, two otherwise)
	kind  flagKind
}

type parsedArgs struct {
	values     map[string][]string // canonical name (names[0]) -> values in order
	positional []string
	unknown    []string // flags not in the spec, as given
}

func (p *parsedArgs) last(name, def string) string {
	if v := p.values[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func (p *parsedArgs) has(name string) bool { _, ok := p.values[name]; return ok }

// parseArgs splits args per specs. Unknown flags are collected, not fatal:
// the caller decides. An unknown "--name" without "=" is taken as a boolean
// (it does not swallow the next argument).
func parseArgs(args []string, specs []flagSpec) (*parsedArgs, error) {
	byName := map[string]*flagSpec{}
	for i := range specs {
		for _, n := range specs[i].names {
			byName[n] = &specs[i]
		}
	}
	p := &parsedArgs{values: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.positional = append(p.positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			p.positional = append(p.positional, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = k, v, true
		}
		spec := byName[name]
		if spec == nil {
			p.unknown = append(p.unknown, a)
			continue
		}
		canon := spec.names[0]
		switch spec.kind {
		case boolFlag:
			if !hasVal {
				val = "true"
			}
			if val != "true" && val != "false" {
				return nil, fmt.Errorf("flag %s takes true or false, got %q", a, val)
			}
		case valueFlag:
			if !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				val = args[i]
			}
		}
		p.values[canon] = append(p.values[canon], val)
	}
	return p, nil
}
