// Package output prints command results as a table, JSON or YAML, and errors in a form a
// person can act on.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Format is an output format, chosen with -o.
type Format string

const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat checks s against the formats a command supports; "" picks the first.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	if s == "" {
		return allowed[0], nil
	}
	if slices.Contains(allowed, Format(s)) {
		return Format(s), nil
	}
	names := make([]string, len(allowed))
	for i, f := range allowed {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unsupported output %q: want %s", s, strings.Join(names, " or "))
}

// Printer writes one command's result.
type Printer struct {
	W      io.Writer
	Format Format
}

// Table writes rows under a header, aligned in columns.
func (p *Printer) Table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.W, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// Fields writes "key: value" lines, aligned.
func (p *Printer) Fields(kv [][2]string) error {
	tw := tabwriter.NewWriter(p.W, 0, 0, 1, ' ', 0)
	for _, f := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	return tw.Flush()
}

// ProtoJSONOptions is how messages are written: the API's own JSON (lowerCamelCase names, as
// Connect sends them), zero values included so scripts can rely on every field being there.
var ProtoJSONOptions = protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitDefaultValues: true}

// Proto writes a message as JSON.
func (p *Printer) Proto(m proto.Message) error {
	b, err := ProtoJSONOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintln(p.W, string(b))
	return err
}

// JSON writes any value as indented JSON.
func (p *Printer) JSON(v any) error {
	enc := json.NewEncoder(p.W)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// RawProto returns a message's JSON for embedding in a larger JSON value.
func RawProto(m proto.Message) json.RawMessage {
	b, err := protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(m)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// Time formats a timestamp for tables: UTC, to the second; "-" when unset.
func Time(ts *timestamppb.Timestamp) string {
	if ts == nil || (ts.GetSeconds() == 0 && ts.GetNanos() == 0) {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.DateTime)
}

// Or returns s, or "-" when it is empty, so table cells are never blank.
func Or(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
