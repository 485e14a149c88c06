package filter

import "slices"

// Simplify rewrites the ORed sets Parse returns into an equivalent node that compiles to
// fewer subqueries, so that the subquery budget counts what runs:
//
//   - conditions common to every set leave the OR: kind=component,relations.ownedBy=a OR
//     kind=component,relations.ownedBy=b is kind=component AND (ownedBy=a OR ownedBy=b);
//   - an OR of single conditions on one key is one condition with all their values
//     (ownedBy=a OR ownedBy=b is ownedBy in (a, b)), an existence test absorbing the rest.
//
// The portal asks this way (one set per owner or starred entity, each repeating the
// selection); unsimplified, ten owners made ten copies of every selected condition.
func Simplify(n Node) Node {
	anyOf, ok := n.(Any)
	if !ok || len(anyOf.Of) < 2 {
		return n
	}
	sets := make([][]Cond, len(anyOf.Of))
	for i, s := range anyOf.Of {
		all, ok := s.(All)
		if !ok {
			return n
		}
		for _, c := range all.Of {
			cond, ok := c.(Cond)
			if !ok {
				return n
			}
			sets[i] = append(sets[i], cond)
		}
	}
	// A set equal to an earlier one adds nothing to the OR.
	unique := sets[:0:0]
	for _, s := range sets {
		if !slices.ContainsFunc(unique, func(o []Cond) bool { return sameSet(o, s) }) {
			unique = append(unique, s)
		}
	}
	sets = unique
	if len(sets) == 1 {
		out := All{}
		for _, c := range sets[0] {
			out.Of = append(out.Of, c)
		}
		return out
	}
	var common []Cond
	for _, c := range sets[0] {
		inAll := true
		for _, s := range sets[1:] {
			if !slices.ContainsFunc(s, func(o Cond) bool { return sameCond(o, c) }) {
				inAll = false
				break
			}
		}
		if inAll {
			common = append(common, c)
		}
	}
	rest := make([][]Cond, len(sets))
	always := false // some set holds nothing but common conditions: the OR always holds
	for i, s := range sets {
		for _, c := range s {
			if !slices.ContainsFunc(common, func(o Cond) bool { return sameCond(o, c) }) {
				rest[i] = append(rest[i], c)
			}
		}
		always = always || len(rest[i]) == 0
	}
	out := All{}
	for _, c := range common {
		out.Of = append(out.Of, c)
	}
	switch {
	case always:
	case oneKey(rest):
		merged := Cond{Key: rest[0][0].Key}
		exists := false
		for _, s := range rest {
			exists = exists || len(s[0].Values) == 0
			for _, v := range s[0].Values {
				if !slices.Contains(merged.Values, v) {
					merged.Values = append(merged.Values, v)
				}
			}
		}
		if exists {
			merged.Values = nil
		}
		out.Of = append(out.Of, merged)
	default:
		or := Any{}
		for _, s := range rest {
			set := All{}
			for _, c := range s {
				set.Of = append(set.Of, c)
			}
			or.Of = append(or.Of, set)
		}
		out.Of = append(out.Of, or)
	}
	return out
}

// oneKey reports whether every set is a single condition on the same key.
func oneKey(sets [][]Cond) bool {
	for _, s := range sets {
		if len(s) != 1 || s[0].Key != sets[0][0].Key {
			return false
		}
	}
	return true
}

func sameSet(a, b []Cond) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		if !slices.ContainsFunc(b, func(o Cond) bool { return sameCond(o, c) }) {
			return false
		}
	}
	return true
}

func sameCond(a, b Cond) bool {
	if a.Key != b.Key || len(a.Values) != len(b.Values) {
		return false
	}
	for _, v := range a.Values {
		if !slices.Contains(b.Values, v) {
			return false
		}
	}
	return true
}

// Cost is how many search-table subqueries n compiles to (see Subqueries).
func Cost(n Node) int {
	switch x := n.(type) {
	case Cond:
		return Subqueries(x.Key, x.Values, true)
	case All:
		total := 0
		for _, c := range x.Of {
			total += Cost(c)
		}
		return total
	case Any:
		total := 0
		for _, c := range x.Of {
			total += Cost(c)
		}
		return total
	case Not:
		return Cost(x.Node)
	}
	return 0
}
