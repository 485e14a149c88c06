package client_test

import (
	"errors"
	"strconv"
	"testing"

	"atrium.dev/tenantctl/internal/client"
)

// server holds n items and pages them by a numeric token.
func server(n int) func(int32, string) ([]int, string, error) {
	return func(size int32, token string) ([]int, string, error) {
		from, _ := strconv.Atoi(token)
		to := min(n, from+int(size))
		var items []int
		for i := from; i < to; i++ {
			items = append(items, i)
		}
		if to == n {
			return items, "", nil
		}
		return items, strconv.Itoa(to), nil
	}
}

func TestPages(t *testing.T) {
	tests := []struct {
		name              string
		items, limit, max int
		start             string
		wantLen           int
		wantNext          string
	}{
		{"everything over several pages", 7, 0, 3, "", 7, ""},
		{"limit stops early and says where", 7, 4, 3, "", 4, "4"},
		{"limit beyond the end", 2, 10, 3, "", 2, ""},
		{"resume from a token", 7, 0, 3, "5", 2, ""},
		{"empty list", 0, 0, 3, "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := client.Pages(tc.limit, tc.max, tc.start, server(tc.items))
			if err != nil || len(got) != tc.wantLen || next != tc.wantNext {
				t.Fatalf("got %v, next %q, err %v", got, next, err)
			}
		})
	}
	boom := errors.New("boom")
	if _, _, err := client.Pages(0, 3, "", func(int32, string) ([]int, string, error) { return nil, "", boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}
