package output

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	var plain bytes.Buffer
	p := NewProgress(&plain, false, "migrating")
	p.Step(1, 2, "acme ok")
	p.Println("FAILED globex: boom")
	p.Step(2, 2, "globex FAILED")
	p.Done()
	want := "migrating 1/2 acme ok\nFAILED globex: boom\nmigrating 2/2 globex FAILED\n"
	if plain.String() != want {
		t.Errorf("plain progress = %q, want %q", plain.String(), want)
	}

	var tty bytes.Buffer
	p = NewProgress(&tty, true, "migrating")
	p.Step(1, 2, "acme ok")
	p.Println("FAILED globex: boom")
	p.Step(2, 2, "globex FAILED")
	p.Done()
	out := tty.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "[###############...............] 1/2") ||
		!strings.Contains(out, "[##############################] 2/2") || !strings.Contains(out, "\r\x1b[2KFAILED globex: boom\n") {
		t.Errorf("bar = %q", out)
	}
}
