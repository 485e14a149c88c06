// Package locationview prints Locations for the `tenantctl catalog locations` commands.
package locationview

import (
	"fmt"
	"strings"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/tenantctl/internal/output"
)

// Status is a Location's state in a word.
func Status(l *catalogv1.Location) string {
	switch {
	case l.GetLastError() != "":
		return "failing"
	case l.GetRefreshedAt() == "":
		return "pending"
	case len(l.GetProblems()) > 0:
		return fmt.Sprintf("%d problems", len(l.GetProblems()))
	}
	return "ok"
}

// Row is a Location's table row.
func Row(l *catalogv1.Location) []string {
	return []string{l.GetId(), l.GetTarget(), Status(l), fmt.Sprint(l.GetEntityCount()), output.Or(l.GetRefreshedAt())}
}

// Header names Row's columns.
var Header = []string{"ID", "TARGET", "STATUS", "ENTITIES", "REFRESHED"}

// Print shows one Location: fields, then its problems and entities.
func Print(p *output.Printer, l *catalogv1.Location, entities []string) error {
	if p.Format == output.JSON {
		return p.JSON(map[string]any{"location": output.RawProto(l), "entityRefs": entities})
	}
	rev := l.GetRevision()
	if len(rev) > 12 && !strings.Contains(rev, ":") {
		rev = rev[:12]
	}
	kv := [][2]string{
		{"id", l.GetId()}, {"target", l.GetTarget()}, {"entity", l.GetEntityRef()},
		{"status", Status(l)}, {"refreshed", output.Or(l.GetRefreshedAt())}, {"revision", output.Or(rev)},
		{"entities", fmt.Sprint(l.GetEntityCount())},
	}
	if l.GetLastError() != "" {
		kv = append(kv, [2]string{"error", l.GetLastError()})
	}
	for _, pr := range l.GetProblems() {
		where := pr.GetFile()
		if pr.GetHasDocument() {
			where += fmt.Sprintf(" document %d", pr.GetDocument())
		}
		if pr.GetField() != "" {
			where += " " + pr.GetField()
		}
		if pr.GetEntityRef() != "" {
			where += " " + pr.GetEntityRef()
		}
		kv = append(kv, [2]string{"problem", strings.TrimSpace(where) + ": " + pr.GetMessage()})
	}
	for _, e := range entities {
		kv = append(kv, [2]string{"yields", e})
	}
	return p.Fields(kv)
}
