package appspec

import (
	"fmt"
	"io/fs"
	"time"
)

// Platform is the compute platform an AppSpec targets.
type Platform int

// The platforms; PlatformUnknown asks Parse to detect it.
const (
	PlatformUnknown Platform = iota
	PlatformServer
	PlatformECS
	PlatformLambda
)

func (p Platform) String() string {
	switch p {
	case PlatformServer:
		return "server"
	case PlatformECS:
		return "ecs"
	case PlatformLambda:
		return "lambda"
	}
	return "unknown"
}

// ParsePlatform reads a platform name as given on a command line ("auto" is PlatformUnknown).
func ParsePlatform(s string) (Platform, error) {
	switch s {
	case "auto", "":
		return PlatformUnknown, nil
	case "server":
		return PlatformServer, nil
	case "ecs":
		return PlatformECS, nil
	case "lambda":
		return PlatformLambda, nil
	}
	return PlatformUnknown, fmt.Errorf("unknown platform %q (want auto, server, ecs or lambda)", s)
}

// OS is the operating system named by a server AppSpec.
type OS int

// The operating systems a server AppSpec may name.
const (
	OSLinux OS = iota + 1
	OSWindows
)

func (o OS) String() string {
	switch o {
	case OSLinux:
		return "linux"
	case OSWindows:
		return "windows"
	}
	return "unknown"
}

// FileExistsBehavior says what Install does when a target file already exists.
// The zero value means "not given", so the next level of configuration decides.
type FileExistsBehavior int

// The file_exists_behavior values; FileExistsUnset defers to the deployment.
const (
	FileExistsUnset FileExistsBehavior = iota
	FileExistsDisallow
	FileExistsOverwrite
	FileExistsRetain
)

func (b FileExistsBehavior) String() string {
	switch b {
	case FileExistsDisallow:
		return "DISALLOW"
	case FileExistsOverwrite:
		return "OVERWRITE"
	case FileExistsRetain:
		return "RETAIN"
	}
	return ""
}

// ParseFileExistsBehavior reads DISALLOW, OVERWRITE or RETAIN (exact case, as CodeDeploy does).
func ParseFileExistsBehavior(s string) (FileExistsBehavior, error) {
	switch s {
	case "DISALLOW":
		return FileExistsDisallow, nil
	case "OVERWRITE":
		return FileExistsOverwrite, nil
	case "RETAIN":
		return FileExistsRetain, nil
	}
	return FileExistsUnset, fmt.Errorf("invalid file exists behavior %q (want one of DISALLOW,OVERWRITE,RETAIN)", s)
}

// Resolve applies the precedence appspec value > deployment option > DISALLOW.
func (b FileExistsBehavior) Resolve(option FileExistsBehavior) FileExistsBehavior {
	if b != FileExistsUnset {
		return b
	}
	if option != FileExistsUnset {
		return option
	}
	return FileExistsDisallow
}

// Lifecycle event names. The scriptable server events may carry hooks; the reserved ones are
// performed by Slipway itself.
const (
	EventApplicationStop    = "ApplicationStop"
	EventDownloadBundle     = "DownloadBundle"
	EventBeforeInstall      = "BeforeInstall"
	EventInstall            = "Install"
	EventAfterInstall       = "AfterInstall"
	EventApplicationStart   = "ApplicationStart"
	EventValidateService    = "ValidateService"
	EventBeforeBlockTraffic = "BeforeBlockTraffic"
	EventBlockTraffic       = "BlockTraffic"
	EventAfterBlockTraffic  = "AfterBlockTraffic"
	EventBeforeAllowTraffic = "BeforeAllowTraffic"
	EventAllowTraffic       = "AllowTraffic"
	EventAfterAllowTraffic  = "AfterAllowTraffic"

	// ECS-only hook.
	EventAfterAllowTestTraffic = "AfterAllowTestTraffic"
)

// ServerHookEvents are the events a server AppSpec may attach scripts to, in lifecycle order.
var ServerHookEvents = []string{
	EventBeforeBlockTraffic, EventAfterBlockTraffic, EventApplicationStop,
	EventBeforeInstall, EventAfterInstall, EventApplicationStart, EventValidateService,
	EventBeforeAllowTraffic, EventAfterAllowTraffic,
}

// ReservedEvents are run by Slipway and may not carry scripts.
var ReservedEvents = []string{EventDownloadBundle, EventInstall, EventBlockTraffic, EventAllowTraffic}

// ECSHookEvents and LambdaHookEvents are the hook names of those platforms.
var (
	ECSHookEvents    = []string{EventBeforeInstall, EventAfterInstall, EventAfterAllowTestTraffic, EventBeforeAllowTraffic, EventAfterAllowTraffic}
	LambdaHookEvents = []string{EventBeforeAllowTraffic, EventAfterAllowTraffic}
)

const (
	// DefaultScriptTimeout is used when a hook entry gives no timeout.
	DefaultScriptTimeout = 3600 * time.Second
	// MaxEventTimeout bounds the sum of the timeouts of one event's scripts.
	MaxEventTimeout = 3600 * time.Second
)

// Spec is a validated AppSpec. Exactly one of the platform parts is filled: the server fields
// (OS, Files, Permissions, FileExistsBehavior, Hooks), ECS, or Lambda.
type Spec struct {
	Platform Platform
	// Version is always "0.0" for a valid spec.
	Version string

	// Server platform.
	OS                 OS
	Files              []File
	Permissions        []Permission
	FileExistsBehavior FileExistsBehavior
	// Hooks maps an event name to its scripts in file order. Events given with no value are
	// dropped, as the reference agent does.
	Hooks map[string][]Script

	// ECS and Lambda platforms.
	ECS    *ECSTarget
	Lambda *LambdaTarget
	// FunctionHooks maps an ECS or Lambda hook event to the name of the function that validates it.
	FunctionHooks map[string]string
}

// EventTimeout is the sum of the timeouts of event's scripts; zero when it has none.
func (s *Spec) EventTimeout(event string) time.Duration {
	var total time.Duration
	for _, sc := range s.Hooks[event] {
		total += sc.Timeout
	}
	return total
}

// File is one entry of `files`: copy Source (relative to the bundle root, "/" for all of it) into
// the directory Destination.
type File struct {
	Source      string
	Destination string
	Line        int
}

// Script is one hook entry.
type Script struct {
	// Location is relative to the bundle root (a leading "/" is allowed and means the same).
	Location string
	// Timeout is DefaultScriptTimeout when the entry gives none.
	Timeout time.Duration
	// TimeoutGiven is false when Timeout is the default. Only given timeouts count towards the
	// per-event limit, as several scripts of one event commonly rely on the default.
	TimeoutGiven bool
	// RunAs is the user to run as; empty means the agent's own user.
	RunAs string
	// Sudo is the reference agent's `sudo: true` (run the script through sudo).
	Sudo bool
	Line int
}

// ObjectType selects which kind of path a permission applies to.
type ObjectType int

// The object types a permission may select.
const (
	ObjectFile ObjectType = iota + 1
	ObjectDirectory
)

func (t ObjectType) String() string {
	switch t {
	case ObjectFile:
		return "file"
	case ObjectDirectory:
		return "directory"
	}
	return "unknown"
}

// Permission is one entry of `permissions`.
type Permission struct {
	// Object is an absolute path; the permission applies to installed paths strictly under it.
	Object string
	// Pattern is a glob matched against direct children's names, or "**" for everything below.
	Pattern string
	Except  []string
	// Types is empty when the entry gives none (both files and directories).
	Types []ObjectType
	Owner string
	Group string
	// Mode is nil when not given.
	Mode    *Mode
	ACLs    []ACE
	Context *SELinuxContext
	Line    int
}

// AppliesTo reports whether the permission selects objects of type t.
func (p Permission) AppliesTo(t ObjectType) bool {
	if len(p.Types) == 0 {
		return true
	}
	for _, want := range p.Types {
		if want == t {
			return true
		}
	}
	return false
}

// Mode is a file mode given as 1-4 octal digits (setuid/setgid/sticky included).
type Mode struct {
	Bits fs.FileMode
	// Text is the mode as written, zero-padded to at least three digits ("012", "0644").
	Text string
}

// ACE is one ACL entry, in setfacl's syntax once formatted with String.
type ACE struct {
	Default bool
	// Kind is "user", "group", "mask" or "other".
	Kind string
	// Name is empty for the owning user or group, mask and other.
	Name string
	// Perms is the rwx triple as written ("rw-" form or octal digit, normalised to "rwx" letters).
	Perms string
}

func (a ACE) String() string {
	s := a.Kind + ":" + a.Name + ":" + a.Perms
	if a.Default {
		s = "default:" + s
	}
	return s
}

// SELinuxContext is `permissions[].context`.
type SELinuxContext struct {
	User  string
	Type  string
	Range *SELinuxRange
}

// SELinuxRange is an MLS/MCS range like "s0-s3:c0.c7,c13".
type SELinuxRange struct {
	Low, High  int
	Categories []int
	Text       string
}

// ECSTarget is the TargetService resource of an ECS AppSpec.
type ECSTarget struct {
	TaskDefinition  string
	ContainerName   string
	ContainerPort   int
	PlatformVersion string
	// NetworkConfiguration holds awsvpcConfiguration as given (subnets, security groups, public IP).
	Subnets        []string
	SecurityGroups []string
	AssignPublicIP string
	// CapacityProviderStrategy entries, if any.
	CapacityProviders []CapacityProvider
}

// CapacityProvider is one entry of an ECS CapacityProviderStrategy.
type CapacityProvider struct {
	Provider string
	Base     int
	Weight   int
}

// LambdaTarget is the AWS::Lambda::Function resource of a Lambda AppSpec.
type LambdaTarget struct {
	Name           string
	Alias          string
	CurrentVersion string
	TargetVersion  string
}
