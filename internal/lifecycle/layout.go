package lifecycle

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Root is a deployment root directory, laid out as CodeDeploy's agent lays out its own:
//
//	<root>/<group-id>/<deployment-id>/bundle.<ext>             the downloaded bundle (when it is a file)
//	<root>/<group-id>/<deployment-id>/deployment-archive/      the extracted revision
//	<root>/<group-id>/<deployment-id>/logs/scripts.log         every line the hooks printed
//	<root>/deployment-instructions/<group-id>-cleanup          what the last Install wrote
//	<root>/deployment-instructions/<group-id>-install.json     the last Install's instructions
//	<root>/deployment-instructions/<group-id>-last_successful_install
//	<root>/deployment-instructions/<group-id>-most_recent_install
//	<root>/ongoing-deployment/                                  crash markers
type Root string

// DeploymentDir is where one deployment of a group keeps its bundle, archive and logs.
func (r Root) DeploymentDir(groupID, deploymentID string) string {
	return filepath.Join(string(r), groupID, deploymentID)
}

// ArchiveDir is the extracted revision of a deployment.
func (r Root) ArchiveDir(groupID, deploymentID string) string {
	return filepath.Join(r.DeploymentDir(groupID, deploymentID), "deployment-archive")
}

// ScriptLog is the file every hook script's output of a deployment is appended to.
func (r Root) ScriptLog(groupID, deploymentID string) string {
	return filepath.Join(r.DeploymentDir(groupID, deploymentID), "logs", "scripts.log")
}

func (r Root) groupDir(groupID string) string { return filepath.Join(string(r), groupID) }

func (r Root) instructionsDir() string { return filepath.Join(string(r), "deployment-instructions") }

// CleanupFile lists what the group's last Install wrote, so the next one can remove it.
func (r Root) CleanupFile(groupID string) string {
	return filepath.Join(r.instructionsDir(), groupID+"-cleanup")
}

// InstallFile holds the group's last Install instructions.
func (r Root) InstallFile(groupID string) string {
	return filepath.Join(r.instructionsDir(), groupID+"-install.json")
}

func (r Root) lastSuccessfulFile(groupID string) string {
	return filepath.Join(r.instructionsDir(), groupID+"-last_successful_install")
}

func (r Root) mostRecentFile(groupID string) string {
	return filepath.Join(r.instructionsDir(), groupID+"-most_recent_install")
}

func (r Root) ongoingDir() string { return filepath.Join(string(r), "ongoing-deployment") }

// checkID refuses identifiers that would place files outside the root: they become path elements.
func checkID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%s is empty", kind)
	}
	if len(id) > 128 {
		return fmt.Errorf("%s %q is longer than 128 characters", kind, id)
	}
	if id == "." || id == ".." || strings.HasPrefix(id, ".") {
		return fmt.Errorf("%s %q may not start with a dot", kind, id)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("%s %q may only hold letters, digits, '-', '_' and '.'", kind, id)
		}
	}
	return nil
}
