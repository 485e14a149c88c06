package root_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"atrium.dev/tenantctl/internal/command/root"
	"atrium.dev/tenantctl/internal/invocation"
)

// The repository's docs show tenantctl commands; each must be one the CLI accepts (the
// command exists, its flags parse, its arguments fit), so a newcomer copying one never meets
// "unknown command". It parses, it does not run: no server is needed.
func TestDocumentedCommandsParse(t *testing.T) {
	docs := []string{"README.md", "docs/ARCHITECTURE.md", "docs/BENCHMARKS.md"}
	var cmds []docCommand
	for _, d := range docs {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "..", d))
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, tenantctlCommands(string(data))...)
	}
	if len(cmds) < 5 {
		t.Fatalf("found only %d tenantctl commands in %v: did the docs' format change?", len(cmds), docs)
	}
	for _, c := range cmds {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			if err := parses(c.args, c.full); err != nil {
				t.Error(err)
			}
		})
	}
}

// parses finds the command args name and checks its flags and, when full, its positional
// arguments and required flags (prose names a command without all it needs).
func parses(args []string, full bool) error {
	inv := &invocation.Invocation{Getenv: func(string) string { return "" }}
	cmd := root.NewCommand(inv)
	sub, rest, err := cmd.Find(args)
	if err != nil {
		return err
	}
	if sub.HasSubCommands() {
		// Groups accept anything and print help: "tenants bogus" must not pass.
		return fmt.Errorf("%q is a command group; %v is not one of its commands", sub.CommandPath(), rest)
	}
	if err := sub.ParseFlags(rest); err != nil {
		return err
	}
	if !full {
		return nil
	}
	if err := sub.ValidateArgs(sub.Flags().Args()); err != nil {
		return err
	}
	return sub.ValidateRequiredFlags()
}

// goRun is tried first: in "tenantctl  go run ./tenantctl/cmd/tenantctl tenants list" (the
// banner's label, then the command) the command is the go run one.
var (
	goRun        = regexp.MustCompile(`go run \./tenantctl/cmd/tenantctl\s+([a-z].*)$`)
	tenantctlRun = regexp.MustCompile(`(?:^|[\s\x60(])tenantctl\s+([a-z].*)$`)
)

type docCommand struct {
	args []string
	full bool // a line of a code block, to be run as it is; else a mention in prose
}

// tenantctlCommands returns the argument lists of every tenantctl command in the markdown's
// code blocks and inline code, with "\" continuations joined and shell quotes removed.
func tenantctlCommands(md string) []docCommand {
	var out []docCommand
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		for strings.HasSuffix(strings.TrimSpace(line), `\`) && i+1 < len(lines) {
			line = strings.TrimSuffix(strings.TrimSpace(line), `\`) + " " + lines[i+1]
			i++
		}
		segs, inline := inlineOrWhole(line)
		for _, seg := range segs {
			m := goRun.FindStringSubmatch(seg)
			if m == nil {
				m = tenantctlRun.FindStringSubmatch(seg)
			}
			if m == nil {
				continue
			}
			cmdline := m[1]
			// A comment or a prose note after the command is not part of it.
			for _, cut := range []string{" #", "   (", " |"} {
				if j := strings.Index(cmdline, cut); j >= 0 {
					cmdline = cmdline[:j]
				}
			}
			if args := shellWords(cmdline); len(args) > 0 {
				out = append(out, docCommand{args, !inline})
			}
		}
	}
	return out
}

// inlineOrWhole returns the line's `inline code` spans, or the line itself when it has none
// (a line of a code block).
func inlineOrWhole(line string) ([]string, bool) {
	parts := strings.Split(line, "`")
	if len(parts) < 3 {
		return []string{line}, false
	}
	var spans []string
	for i := 1; i < len(parts); i += 2 {
		spans = append(spans, parts[i])
	}
	return spans, true
}

// shellWords splits like a POSIX shell for the simple quoting docs use.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// The check itself must catch what it is for.
func TestParsesRejects(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"tenants", "bogus"}, {"tenants"}, {"tenants", "list", "--nope"}, {"tenants", "get"}} {
		if parses(args, true) == nil {
			t.Errorf("%v parsed", args)
		}
	}
	if err := parses([]string{"tenants", "create", "acme", "--display-name", "Acme Inc", "--admin-email", "a@b.test"}, true); err != nil {
		t.Error(err)
	}
}
