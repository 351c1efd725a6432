package deploy

import "fmt"

// TagFilterType says which parts of a tag a filter compares.
type TagFilterType int

// The tag filter types.
const (
	KeyOnly TagFilterType = iota + 1
	ValueOnly
	KeyAndValue
)

var tagFilterTypeNames = [...]string{"", "KEY_ONLY", "VALUE_ONLY", "KEY_AND_VALUE"}

func (t TagFilterType) String() string { return enumName(tagFilterTypeNames[:], int(t)) }

// ParseTagFilterType reads KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE.
func ParseTagFilterType(s string) (TagFilterType, error) {
	i, err := parseEnum(tagFilterTypeNames[1:], "tag filter type", s)
	return TagFilterType(i + 1), err
}

// TagFilter selects instances by one tag. Comparison is exact and case-sensitive, as tags are.
type TagFilter struct {
	Key   string
	Value string
	Type  TagFilterType
}

// Match reports whether some tag of tags satisfies the filter.
func (f TagFilter) Match(tags map[string]string) bool {
	switch f.Type {
	case KeyOnly:
		_, ok := tags[f.Key]
		return ok
	case ValueOnly:
		for _, v := range tags {
			if v == f.Value {
				return true
			}
		}
		return false
	case KeyAndValue:
		v, ok := tags[f.Key]
		return ok && v == f.Value
	}
	return false
}

// Validate checks that the filter names what its type compares.
func (f TagFilter) Validate() error {
	switch f.Type {
	case KeyOnly:
		if f.Key == "" {
			return fmt.Errorf("%w: KEY_ONLY filter needs a key", ErrInvalidConfig)
		}
	case ValueOnly:
		if f.Value == "" {
			return fmt.Errorf("%w: VALUE_ONLY filter needs a value", ErrInvalidConfig)
		}
	case KeyAndValue:
		// A tag may have an empty value, so only the key is required.
		if f.Key == "" {
			return fmt.Errorf("%w: KEY_AND_VALUE filter needs a key", ErrInvalidConfig)
		}
	default:
		return fmt.Errorf("%w: tag filter type %v; use KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE", ErrInvalidConfig, f.Type)
	}
	return nil
}

// MaxTagGroups is CodeDeploy's limit on tag groups in a deployment group's tag set.
const MaxTagGroups = 3

// TagSet is a deployment group's instance selection: a list of tag groups. As in CodeDeploy's
// tag sets, an instance belongs to the group when, in every tag group, at least one filter
// matches it (OR inside a group, AND across groups). An empty set selects nothing.
type TagSet [][]TagFilter

// Match reports whether an instance with tags belongs to the group.
func (s TagSet) Match(tags map[string]string) bool {
	if len(s) == 0 {
		return false
	}
	for _, group := range s {
		if !anyMatch(group, tags) {
			return false
		}
	}
	return true
}

func anyMatch(group []TagFilter, tags map[string]string) bool {
	for _, f := range group {
		if f.Match(tags) {
			return true
		}
	}
	return false
}

// Validate checks the number of groups and each filter.
func (s TagSet) Validate() error {
	if len(s) > MaxTagGroups {
		return fmt.Errorf("%w: %d tag groups; use at most %d", ErrInvalidConfig, len(s), MaxTagGroups)
	}
	for i, group := range s {
		if len(group) == 0 {
			return fmt.Errorf("%w: tag group %d is empty and would match no instance", ErrInvalidConfig, i+1)
		}
		for j, f := range group {
			if err := f.Validate(); err != nil {
				return fmt.Errorf("tag group %d filter %d: %w", i+1, j+1, err)
			}
		}
	}
	return nil
}

// WithFirst is the set with its first tag group replaced by first. A blue/green group's
// replacement fleet is its tag set with the serving fleet's own tag group (the first) replaced
// by the replacement tags, so that the other tag groups (app=shop, say) select both fleets.
func (s TagSet) WithFirst(first []TagFilter) TagSet {
	out := TagSet{first}
	if len(s) > 1 {
		out = append(out, s[1:]...)
	}
	return out
}
