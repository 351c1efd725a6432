package appspec

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const (
	ecsServiceType     = "AWS::ECS::Service"
	lambdaFunctionType = "AWS::Lambda::Function"
)

var (
	subnetRE        = regexp.MustCompile(`^subnet-[0-9a-f]+$`)
	securityGroupRE = regexp.MustCompile(`^sg-[0-9a-f]+$`)
)

// serverKeys are explained when they show up in an ECS or Lambda AppSpec, which ignores them.
var serverKeys = map[string]bool{"os": true, "files": true, "permissions": true, "file_exists_behavior": true}

func functionHint(platform string) func(string) string {
	return func(key string) string {
		if serverKeys[key] {
			return "is a server (EC2/on-premises) key, ignored in an " + platform + " AppSpec: remove it"
		}
		return ""
	}
}

func (c *checker) ecs(root *node) *Spec {
	f := c.mapping(root, "")
	spec := &Spec{Platform: PlatformECS, Version: "0.0", FunctionHooks: map[string]string{}}
	c.version(f)
	if body, ok := c.resource(f, ecsServiceType); ok {
		spec.ECS = c.ecsTarget(body)
	}
	c.functionHooks(f, ECSHookEvents, spec)
	c.rest(f, functionHint("ECS"))
	return spec
}

func (c *checker) lambda(root *node) *Spec {
	f := c.mapping(root, "")
	spec := &Spec{Platform: PlatformLambda, Version: "0.0", FunctionHooks: map[string]string{}}
	c.version(f)
	if body, ok := c.resource(f, lambdaFunctionType); ok {
		spec.Lambda = c.lambdaTarget(body)
	}
	c.functionHooks(f, LambdaHookEvents, spec)
	c.rest(f, functionHint("Lambda"))
	return spec
}

// resource reads `Resources: [{Name: {Type: typ, Properties: {...}}}]`, which must hold exactly one
// resource, and returns its Properties fields.
func (c *checker) resource(f *fields, typ string) (*fields, bool) {
	n := f.get("Resources")
	if n.isNull() {
		c.errorf(f.at("Resources"), CodeMissing, "Resources is missing: add the %s resource", typ)
		return nil, false
	}
	items, ok := c.list(n, "Resources", " (write it as '- TargetService:' followed by Type and Properties)")
	if !ok {
		return nil, false
	}
	if len(items) != 1 {
		c.errorf(n, CodeResource, "Resources must hold exactly one resource, not %d", len(items))
		return nil, false
	}
	it := items[0]
	if it.kind != kindMapping || len(it.pairs) != 1 {
		c.errorf(it, CodeResource, "Resources[0] must be a single name mapped to its Type and Properties, such as '- TargetService: {Type: %s, Properties: ...}'", typ)
		return nil, false
	}
	name := it.pairs[0].key.value
	p := "Resources." + name
	body := c.mapping(it.pairs[0].value, p)
	if body == nil {
		return nil, false
	}
	defer c.rest(body, nil)
	got, typNode, ok := c.required(body, "Type")
	if !ok {
		return nil, false
	}
	if strings.TrimSpace(got) != typ {
		c.errorf(typNode, CodeResource, "%s.Type is %q: it must be %s%s", p, got, typ, didYouMean(got, []string{typ}))
		return nil, false
	}
	pn := body.get("Properties")
	if pn.isNull() {
		c.errorf(body.at("Properties"), CodeMissing, "%s.Properties is missing: add the resource's properties", p)
		return nil, false
	}
	props := c.mapping(pn, p+".Properties")
	if props == nil {
		return nil, false
	}
	return props, true
}

// filled reads a required string property and warns when it is a placeholder.
func (c *checker) filled(f *fields, key string) string {
	s, n, ok := c.required(f, key)
	if ok {
		c.warnPlaceholder(n, f.child(key), s)
	}
	return s
}

func (c *checker) ecsTarget(props *fields) *ECSTarget {
	defer c.rest(props, nil)
	t := &ECSTarget{TaskDefinition: c.filled(props, "TaskDefinition")}
	lbNode := props.get("LoadBalancerInfo")
	if lbNode.isNull() {
		c.errorf(props.at("LoadBalancerInfo"), CodeMissing, "%s.LoadBalancerInfo is missing: add ContainerName and ContainerPort of the container that receives traffic", props.path)
	} else if lb := c.mapping(lbNode, props.child("LoadBalancerInfo")); lb != nil {
		t.ContainerName = c.filled(lb, "ContainerName")
		t.ContainerPort = c.port(lb, "ContainerPort")
		c.rest(lb, nil)
	}
	if s, n, ok := c.optional(props, "PlatformVersion"); ok && s != "" {
		c.warnPlaceholder(n, props.child("PlatformVersion"), s)
		t.PlatformVersion = s
	}
	if nc := c.mapping(props.get("NetworkConfiguration"), props.child("NetworkConfiguration")); nc != nil {
		if vpc := c.mapping(nc.get("AwsvpcConfiguration"), nc.child("AwsvpcConfiguration")); vpc != nil {
			t.Subnets = c.awsIDs(vpc, "Subnets", subnetRE, "subnet-")
			t.SecurityGroups = c.awsIDs(vpc, "SecurityGroups", securityGroupRE, "sg-")
			if s, n, ok := c.optional(vpc, "AssignPublicIp"); ok && s != "" {
				switch {
				case s == "ENABLED" || s == "DISABLED":
					t.AssignPublicIP = s
				case placeholder(s) != "":
					c.warnPlaceholder(n, vpc.child("AssignPublicIp"), s)
				default:
					c.errorf(n, CodeValue, "%s %q must be ENABLED or DISABLED%s", vpc.child("AssignPublicIp"), s, didYouMean(s, []string{"ENABLED", "DISABLED"}))
				}
			}
			c.rest(vpc, nil)
		}
		c.rest(nc, nil)
	}
	items, _ := c.list(props.get("CapacityProviderStrategy"), props.child("CapacityProviderStrategy"), " (write each entry as '- CapacityProvider: ...')")
	for i, it := range items {
		cp := c.mapping(it, index(props.child("CapacityProviderStrategy"), i))
		if cp == nil {
			continue
		}
		t.CapacityProviders = append(t.CapacityProviders, CapacityProvider{
			Provider: c.filled(cp, "CapacityProvider"),
			Base:     c.count(cp, "Base"),
			Weight:   c.count(cp, "Weight"),
		})
		c.rest(cp, nil)
	}
	return t
}

// awsIDs reads a list of resource IDs; one that does not look like an ID is most often an
// unfilled template value, so it warns rather than fails.
func (c *checker) awsIDs(f *fields, key string, re *regexp.Regexp, prefix string) []string {
	list, items, ok := c.strList(f.get(key), f.child(key), "")
	if !ok {
		return nil
	}
	for i, s := range list {
		if !re.MatchString(s) {
			c.warnf(items[i], CodePlaceholder, "%s %q does not look like an ID (%s...): replace it with the real value before deploying", index(f.child(key), i), s, prefix)
		}
	}
	return list
}

func (c *checker) port(f *fields, key string) int {
	n := f.get(key)
	p := f.child(key)
	if n.isNull() {
		c.errorf(f.at(key), CodeMissing, "%s is missing: add the container port, such as '%s: 80'", p, key)
		return 0
	}
	if n.kind == kindScalar && (n.tag == "!!int" || n.tag == "!!str") {
		text := strings.TrimSpace(n.value)
		if v, err := strconv.Atoi(text); err == nil && isDigits(text) {
			if v < 1 || v > 65535 {
				c.errorf(n, CodeValue, "%s %d is not a port number (1-65535)", p, v)
				return 0
			}
			return v
		}
		if n.tag == "!!str" && (placeholder(n.value) != "" || n.value == "") {
			c.warnf(n, CodePlaceholder, "%s %q is not a number yet: replace it with the real port before deploying", p, n.value)
			return 0
		}
	}
	c.errorf(n, CodeValue, "%s must be a port number (1-65535), not %s", p, n.describe())
	return 0
}

func (c *checker) count(f *fields, key string) int {
	n := f.get(key)
	if n.isNull() {
		return 0
	}
	if n.kind == kindScalar && n.tag == "!!int" {
		if v, err := strconv.Atoi(n.value); err == nil && v >= 0 {
			return v
		}
	}
	c.errorf(n, CodeValue, "%s must be a whole number of 0 or more, not %s", f.child(key), n.describe())
	return 0
}

func (c *checker) lambdaTarget(props *fields) *LambdaTarget {
	defer c.rest(props, nil)
	return &LambdaTarget{
		Name:           c.filled(props, "Name"),
		Alias:          c.filled(props, "Alias"),
		CurrentVersion: c.filled(props, "CurrentVersion"),
		TargetVersion:  c.filled(props, "TargetVersion"),
	}
}

// functionHooks reads `Hooks: [{Event: FunctionName}, ...]`.
func (c *checker) functionHooks(f *fields, events []string, spec *Spec) {
	n := f.get("Hooks")
	items, ok := c.list(n, "Hooks", " (write each hook as '- BeforeAllowTraffic: FunctionName')")
	if !ok {
		return
	}
	seen := map[string]int{}
	for i, it := range items {
		p := index("Hooks", i)
		if it.isNull() {
			continue
		}
		if it.kind != kindMapping || len(it.pairs) != 1 {
			c.errorf(it, CodeType, "%s must be one event mapped to a Lambda function name, such as '- %s: MyHookFunction'", p, events[0])
			continue
		}
		key, val := it.pairs[0].key, it.pairs[0].value
		event := key.value
		if !slices.Contains(events, event) {
			c.errorf(key, CodeUnknownEvent, "unknown %s hook '%s' (use one of %s)%s", spec.Platform, event, strings.Join(events, ", "), didYouMean(event, events))
			continue
		}
		if first, dup := seen[event]; dup {
			c.errorf(key, CodeDuplicate, "hook %s is given twice (first at line %d): keep one", event, first)
			continue
		}
		seen[event] = key.line
		if val.isNull() {
			continue
		}
		name, ok := c.str(val, p+"."+event)
		if !ok {
			continue
		}
		if name == "" {
			c.errorf(val, CodeMissing, "%s.%s is empty: give the Lambda function name or remove the hook", p, event)
			continue
		}
		c.warnPlaceholder(val, p+"."+event, name)
		spec.FunctionHooks[event] = name
	}
}
