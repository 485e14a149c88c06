package store

import (
	"context"
	"math/bits"
	"sort"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Grouping of an active-users series.
type Grouping int

const (
	ByHour Grouping = iota + 1
	ByDay
	ByWeek
	ByMonth
)

// Point of an active-users series.
type Point struct {
	Time     time.Time
	Active   int64
	WAU, MAU int64
}

// ActiveUsers is GetActiveUsers' answer.
type ActiveUsers struct {
	Points []Point
	Total  int64
	// MAUAtEnd is the rolling 30-day count on the range's last day (adoption's numerator).
	MAUAtEnd int64
}

// userDays is each user's active days in [base, base+n days) as a bit set: user u's day d
// is bit d%64 of word u*words + d/64. Bit sets make the rolling windows a few shifts and ORs
// per user, with no per-day allocation.
type userDays struct {
	base  time.Time
	n     int
	words int
	bits  []uint64
	users int
}

func kindsFilter(includeTokens bool) []int16 {
	if includeTokens {
		return []int16{1, 2}
	}
	return []int16{1}
}

// loadDays reads the activity bit masks of [from, to) (UTC days).
func loadDays(ctx context.Context, tx pgx.Tx, from, to time.Time, kinds []int16) (*userDays, error) {
	rows, err := tx.Query(ctx, `SELECT user_key, month, days FROM insights_user_months
		WHERE month >= $1 AND month < $2 AND kind = ANY($3)`, monthUTC(from), to, kinds)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	n := int(to.Sub(from).Hours() / 24)
	ud := &userDays{base: from, n: n, words: (n + 63) / 64}
	index := map[string]int{}
	var (
		key   []byte
		month time.Time
		mask  int32
	)
	for rows.Next() {
		if err := rows.Scan(&key, &month, &mask); err != nil {
			return nil, err
		}
		u, ok := index[string(key)]
		if !ok {
			u = ud.users
			index[string(key)] = u
			ud.users++
			ud.bits = append(ud.bits, make([]uint64, ud.words)...)
		}
		off := int(month.Sub(from).Hours() / 24)
		w := ud.bits[u*ud.words : (u+1)*ud.words]
		m := uint32(mask)
		for m != 0 {
			b := bits.TrailingZeros32(m)
			m &= m - 1
			if d := off + b; d >= 0 && d < n {
				w[d/64] |= 1 << (d % 64)
			}
		}
	}
	return ud, rows.Err()
}

// distinct counts the users active on a day offset in [from, to).
func (ud *userDays) distinct(from, to int) int64 {
	var n int64
	for u := range ud.users {
		if ud.anyIn(u, from, to) {
			n++
		}
	}
	return n
}

// activity is who was active on each day of a range, as ActiveUsersQuery counts it: per user
// (userDays, from insights_user_months, any kinds) or per day (daySets, people only).
type activity interface {
	rolling(window int) []int64  // per day offset, users active in the window ending there
	distinct(from, to int) int64 // users active on a day offset in [from, to)
}

// daySets are the people active on each day of [base, base+n days) as bit sets over their
// numbers (insights_users.num): sets[d] holds day d's words, word i covering people 64i to
// 64i+63. Read from insights_plugin_words (plugin ”, by day): a day is a few dozen words for
// thousands of people, where insights_user_months is a row per person and month.
type daySets struct {
	n    int
	sets [][]uint64
}

// loadDaySets reads the people's bit sets of the days [from, to).
func loadDaySets(ctx context.Context, tx pgx.Tx, from, to time.Time) (*daySets, error) {
	n := int(to.Sub(from).Hours() / 24)
	days := make([]time.Time, n)
	for i := range days {
		days[i] = from.AddDate(0, 0, i)
	}
	// One index range per day (grain, bucket, plugin ''), not the day's rows of every plugin.
	rows, err := tx.Query(ctx, `SELECT bucket, word, bits FROM insights_plugin_words
		WHERE grain = 'd' AND plugin = '' AND bucket = ANY($1::date[])`, days)
	if err != nil {
		return nil, err
	}
	ds := &daySets{n: n, sets: make([][]uint64, n)}
	var (
		day    time.Time
		word   int64
		bits64 int64
	)
	_, err = pgx.ForEachRow(rows, []any{&day, &word, &bits64}, func() error {
		d := int(day.Sub(from).Hours() / 24)
		if d < 0 || d >= n || word < 0 || word > 1<<24 {
			return nil
		}
		if int(word) >= len(ds.sets[d]) {
			ds.sets[d] = append(ds.sets[d], make([]uint64, int(word)+1-len(ds.sets[d]))...)
		}
		ds.sets[d][word] |= uint64(bits64)
		return nil
	})
	return ds, err
}

// union counts the people in the union of the days [from, to), using acc as scratch.
func (ds *daySets) union(from, to int, acc []uint64) ([]uint64, int64) {
	acc = acc[:0]
	for d := max(from, 0); d < min(to, ds.n); d++ {
		set := ds.sets[d]
		if len(set) > len(acc) {
			acc = append(acc, make([]uint64, len(set)-len(acc))...)
		}
		for i, w := range set {
			acc[i] |= w
		}
	}
	var c int64
	for _, w := range acc {
		c += int64(bits.OnesCount64(w))
	}
	return acc, c
}

func (ds *daySets) distinct(from, to int) int64 {
	_, c := ds.union(from, to, nil)
	return c
}

func (ds *daySets) rolling(window int) []int64 {
	out := make([]int64, ds.n)
	var acc []uint64
	for d := range ds.n {
		acc, out[d] = ds.union(d-window+1, d+1, acc)
	}
	return out
}

// user returns user u's words.
func (ud *userDays) user(u int) []uint64 { return ud.bits[u*ud.words : (u+1)*ud.words] }

// shiftOr sets dst = src | src << k (towards later days), in place when dst is src.
func shiftOr(dst, src []uint64, k int) {
	ws, bs := k/64, uint(k%64)
	for i := len(src) - 1; i >= 0; i-- {
		var v uint64
		if j := i - ws; j >= 0 {
			v = src[j] << bs
			if bs > 0 && j > 0 {
				v |= src[j-1] >> (64 - bs)
			}
		}
		dst[i] = src[i] | v
	}
}

// rolling returns, per day offset in [0, n), how many users were active in the window days
// ending that day: a user's coverage is its active days smeared forward over window-1 days
// (shift-ORs doubling the covered length), then counted bit by bit.
func (ud *userDays) rolling(window int) []int64 {
	out := make([]int64, ud.n)
	cov := make([]uint64, ud.words)
	for u := range ud.users {
		copy(cov, ud.user(u))
		for l := 1; l < window; {
			step := min(l, window-l)
			shiftOr(cov, cov, step)
			l += step
		}
		for i, w := range cov {
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				if d := i*64 + b; d < ud.n {
					out[d]++
				}
			}
		}
	}
	return out
}

// anyIn reports whether user u was active on a day offset in [from, to).
func (ud *userDays) anyIn(u, from, to int) bool {
	w := ud.user(u)
	for d := from; d < to; {
		i, b := d/64, d%64
		width := min(64-b, to-d)
		m := ^uint64(0) >> (64 - width) << b
		if w[i]&m != 0 {
			return true
		}
		d += width
	}
	return false
}

// ActiveUsersQuery runs GetActiveUsers for [start, end) in the tenant of ctx.
func (s *Store) ActiveUsersQuery(ctx context.Context, start, end time.Time, g Grouping, includeTokens bool) (*ActiveUsers, error) {
	start, end = dayUTC(start), dayUTC(end.Add(-time.Nanosecond)).AddDate(0, 0, 1)
	base := start.AddDate(0, 0, -29) // MAU of the first day looks 29 days back
	out := &ActiveUsers{}
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		// People only: their day sets. With API tokens: every key's months.
		var ud activity
		var err error
		if includeTokens {
			ud, err = loadDays(ctx, tx, base, end, kindsFilter(includeTokens))
		} else {
			ud, err = loadDaySets(ctx, tx, base, end)
		}
		if err != nil {
			return err
		}
		span := int(end.Sub(base).Hours() / 24)
		first := 29 // offset of start
		dau, wau, mau := ud.rolling(1), ud.rolling(7), ud.rolling(30)
		out.Total = ud.distinct(first, span) // distinct users of the whole range
		last := span - 1
		out.MAUAtEnd = mau[last]
		switch g {
		case ByHour:
			return hourly(ctx, tx, start, end, includeTokens, base, wau, mau, out)
		case ByWeek, ByMonth:
			type bucket struct {
				t     time.Time
				from  int
				to    int // exclusive offset
				count int64
			}
			var bs []bucket
			for t := start; t.Before(end); {
				var next time.Time
				if g == ByWeek {
					t0 := t.AddDate(0, 0, -(int(t.Weekday())+6)%7) // Monday
					next = t0.AddDate(0, 0, 7)
					t = t0
				} else {
					t0 := monthUTC(t)
					next = t0.AddDate(0, 1, 0)
					t = t0
				}
				from := max(int(t.Sub(base).Hours()/24), first)
				to := min(int(next.Sub(base).Hours()/24), span)
				bs = append(bs, bucket{t: t, from: from, to: to})
				t = next
			}
			for i := range bs {
				if bs[i].from < bs[i].to {
					bs[i].count = ud.distinct(bs[i].from, bs[i].to)
				}
			}
			for _, b := range bs {
				out.Points = append(out.Points, Point{Time: b.t, Active: b.count, WAU: wau[b.to-1], MAU: mau[b.to-1]})
			}
		default:
			for i := first; i < span; i++ {
				out.Points = append(out.Points, Point{Time: base.AddDate(0, 0, i), Active: dau[i], WAU: wau[i], MAU: mau[i]})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func hourly(ctx context.Context, tx pgx.Tx, start, end time.Time, includeTokens bool, base time.Time, wau, mau []int64, out *ActiveUsers) error {
	rows, err := tx.Query(ctx, `SELECT day, hours FROM insights_user_hours WHERE day >= $1 AND day < $2 AND kind = ANY($3)`,
		start, end, kindsFilter(includeTokens))
	if err != nil {
		return err
	}
	defer rows.Close()
	nh := int(end.Sub(start).Hours())
	counts := make([]int64, nh)
	var (
		day  time.Time
		mask int32
	)
	for rows.Next() {
		if err := rows.Scan(&day, &mask); err != nil {
			return err
		}
		off := int(day.Sub(start).Hours())
		m := uint32(mask)
		for m != 0 {
			h := bits.TrailingZeros32(m)
			m &= m - 1
			if i := off + h; i >= 0 && i < nh {
				counts[i]++
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := 0; i < nh; i++ {
		t := start.Add(time.Duration(i) * time.Hour)
		d := int(dayUTC(t).Sub(base).Hours() / 24)
		out.Points = append(out.Points, Point{Time: t, Active: counts[i], WAU: wau[d], MAU: mau[d]})
	}
	return nil
}

// Item of a top list.
type Item struct {
	Key       string
	Count     int64
	NoResults int64
}

// topBuckets are the rollup buckets that tile [start, end): whole ISO weeks from the weekly
// grain, the days at either edge from the daily one.
func topBuckets(start, end time.Time) (wStart, wEnd time.Time, grains []string, buckets []time.Time) {
	wStart = start.AddDate(0, 0, (8-int(start.Weekday()))%7)  // first Monday >= start
	wEnd = end.AddDate(0, 0, -((int(end.Weekday()) + 6) % 7)) // last Monday <= end
	if !wStart.Before(wEnd) {
		wStart, wEnd = end, end // no whole week: days only
	}
	for d := start; d.Before(wStart); d = d.AddDate(0, 0, 1) {
		grains, buckets = append(grains, "d"), append(buckets, d)
	}
	for w := wStart; w.Before(wEnd); w = w.AddDate(0, 0, 7) {
		grains, buckets = append(grains, "w"), append(buckets, w)
	}
	for d := wEnd; d.Before(end); d = d.AddDate(0, 0, 1) {
		grains, buckets = append(grains, "d"), append(buckets, d)
	}
	return wStart, wEnd, grains, buckets
}

// topLeadersAnswered counts the top lists topByLeaders answered (tests read it).
var topLeadersAnswered atomic.Int64

// topK is how many leaders per bucket a top list of limit reads first.
func topK(limit int) int { return max(3*limit, 30) }

// Top sums a dimension over [start, end) and returns its limit biggest keys (by count, then
// key; with noResultsOnly the keys with a no-result count, by it, then key). With a limit it
// reads each bucket's leaders only (insights_counts_rank, or insights_counts_rank_n2 for the
// no-result counts): the candidates are the keys among any bucket's K leaders, their exact
// sums are read by key, and a key outside every bucket's leaders has at most the sum of the
// buckets' K-th counts (0 for a bucket with fewer than K keys): when the limit-th candidate
// is above that bound the list is exact. Otherwise (flat distributions, ties at the bound) it
// sums every key of the range, as without the index.
func (s *Store) Top(ctx context.Context, dim int16, start, end time.Time, limit int, noResultsOnly bool) ([]Item, error) {
	start, end = dayUTC(start), dayUTC(end.Add(-time.Nanosecond)).AddDate(0, 0, 1)
	var items []Item
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if limit > 0 {
			var ok bool
			var err error
			items, ok, err = topByLeaders(ctx, tx, dim, start, end, limit, noResultsOnly)
			if err != nil || ok {
				return err
			}
		}
		var err error
		items, err = topBySum(ctx, tx, dim, start, end, limit, noResultsOnly)
		return err
	})
	return items, err
}

// leadersSQL reads each bucket's K leaders by count (n) or by no-result count (n2, only the
// rows that have one: the partial index insights_counts_rank_n2).
const (
	leadersSQL = `SELECT b.i, t.key, t.n FROM unnest($2::"char"[], $3::date[]) WITH ORDINALITY b(grain, bucket, i)
		CROSS JOIN LATERAL (SELECT key, n FROM insights_counts c
			WHERE c.dim = $1 AND c.grain = b.grain AND c.bucket = b.bucket ORDER BY n DESC LIMIT $4) t`
	leadersN2SQL = `SELECT b.i, t.key, t.n2 FROM unnest($2::"char"[], $3::date[]) WITH ORDINALITY b(grain, bucket, i)
		CROSS JOIN LATERAL (SELECT key, n2 FROM insights_counts c
			WHERE c.dim = $1 AND c.grain = b.grain AND c.bucket = b.bucket AND c.n2 > 0 ORDER BY n2 DESC LIMIT $4) t`
)

func topByLeaders(ctx context.Context, tx pgx.Tx, dim int16, start, end time.Time, limit int, byN2 bool) ([]Item, bool, error) {
	_, _, grains, buckets := topBuckets(start, end)
	k := topK(limit)
	q := leadersSQL
	if byN2 {
		q = leadersN2SQL
	}
	rows, err := tx.Query(ctx, q, dim, grains, buckets, k)
	if err != nil {
		return nil, false, err
	}
	seen := make([]int, len(buckets)+1)
	kth := make([]int64, len(buckets)+1)
	cands := map[string]bool{}
	var (
		bi  int
		key string
		n   int64
	)
	for rows.Next() {
		if err := rows.Scan(&bi, &key, &n); err != nil {
			return nil, false, err
		}
		cands[key] = true
		if seen[bi] == 0 || n < kth[bi] {
			kth[bi] = n // the bucket's smallest leader: its K-th when it has K
		}
		seen[bi]++
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	var bound int64 // the most a key outside every bucket's leaders can have
	for i := range seen {
		if seen[i] == k {
			bound += kth[i]
		}
	}
	if len(cands) == 0 {
		return nil, true, nil
	}
	keys := make([]string, 0, len(cands))
	for c := range cands {
		keys = append(keys, c)
	}
	rows, err = tx.Query(ctx, `SELECT c.key, sum(c.n)::int8, sum(c.n2)::int8
		FROM unnest($2::"char"[], $3::date[]) b(grain, bucket) CROSS JOIN unnest($4::text[]) k(key)
		JOIN insights_counts c ON c.dim = $1 AND c.grain = b.grain AND c.bucket = b.bucket AND c.key = k.key
		GROUP BY c.key`, dim, grains, buckets, keys)
	if err != nil {
		return nil, false, err
	}
	items, err := pgx.CollectRows(rows, scanItem)
	if err != nil {
		return nil, false, err
	}
	last := func() int64 { return items[limit-1].Count }
	if byN2 {
		sortItemsN2(items)
		last = func() int64 { return items[limit-1].NoResults }
	} else {
		sortItems(items)
	}
	if len(items) > limit {
		items = items[:limit]
	}
	// Exact when no outsider can reach the list: every key was seen (bound 0), or the last
	// listed count is above the bound (equal could tie and win on the key).
	if bound == 0 || (len(items) == limit && last() > bound) {
		topLeadersAnswered.Add(1)
		return items, true, nil
	}
	return nil, false, nil
}

func topBySum(ctx context.Context, tx pgx.Tx, dim int16, start, end time.Time, limit int, noResultsOnly bool) ([]Item, error) {
	wStart, wEnd, _, _ := topBuckets(start, end)
	order := "sum(n) DESC"
	having := ""
	if noResultsOnly {
		order, having = "sum(n2) DESC", " HAVING sum(n2) > 0"
	}
	lim := ""
	args := []any{dim, start, wStart, wEnd, end}
	if limit > 0 {
		lim = " LIMIT $6"
		args = append(args, limit)
	}
	rows, err := tx.Query(ctx, `SELECT key, sum(n)::int8, sum(n2)::int8 FROM insights_counts
		WHERE dim = $1 AND (
		  (grain = 'w' AND bucket >= $3 AND bucket < $4) OR
		  (grain = 'd' AND ((bucket >= $2 AND bucket < $3) OR (bucket >= $4 AND bucket < $5))))
		GROUP BY key`+having+` ORDER BY `+order+`, key`+lim, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanItem)
}

func scanItem(r pgx.CollectableRow) (Item, error) {
	var it Item
	err := r.Scan(&it.Key, &it.Count, &it.NoResults)
	return it, err
}

// sortItems orders a top list: count descending, then key.
func sortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].Count != items[j].Count {
			return items[i].Count > items[j].Count
		}
		return items[i].Key < items[j].Key
	})
}

// sortItemsN2 orders a no-result top list: no-result count descending, then key.
func sortItemsN2(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].NoResults != items[j].NoResults {
			return items[i].NoResults > items[j].NoResults
		}
		return items[i].Key < items[j].Key
	})
}

// PluginUse is one plugin's adoption.
type PluginUse struct {
	Plugin        string
	Users         int64
	Calls, Errors int64
}

// PluginAdoption counts distinct users (people, not API tokens) and calls per plugin over
// [start, end), and the distinct active people of the range.
func (s *Store) PluginAdoption(ctx context.Context, start, end time.Time) ([]PluginUse, int64, error) {
	start, end = dayUTC(start), dayUTC(end.Add(-time.Nanosecond)).AddDate(0, 0, 1)
	byPlugin := map[string]*PluginUse{}
	var total int64
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		calls, err := topBySum(ctx, tx, 1, start, end, 0, false)
		if err != nil {
			return err
		}
		for _, c := range calls {
			byPlugin[c.Key] = &PluginUse{Plugin: c.Key, Calls: c.Count, Errors: c.NoResults}
		}
		total, err = pluginUsers(ctx, tx, start, end, byPlugin)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]PluginUse, 0, len(byPlugin))
	for _, p := range byPlugin {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Users != out[j].Users {
			return out[i].Users > out[j].Users
		}
		if out[i].Calls != out[j].Calls {
			return out[i].Calls > out[j].Calls
		}
		return out[i].Plugin < out[j].Plugin
	})
	return out, total, nil
}

// pluginUsers counts distinct people per plugin, and in all (the empty plugin), over [start, end)
// from the bit sets of insights_plugin_words (migration 005): the range's ISO weeks and edge
// days (topBuckets) ORed per plugin and word, then counted. A person active in two buckets of
// the range is one bit.
func pluginUsers(ctx context.Context, tx pgx.Tx, start, end time.Time, byPlugin map[string]*PluginUse) (int64, error) {
	_, _, grains, buckets := topBuckets(start, end)
	rows, err := tx.Query(ctx, `SELECT w.plugin, bit_or(w.bits) FROM unnest($1::"char"[], $2::date[]) b(grain, bucket)
		JOIN insights_plugin_words w ON w.grain = b.grain AND w.bucket = b.bucket
		GROUP BY w.plugin, w.word`, grains, buckets)
	if err != nil {
		return 0, err
	}
	var (
		plugin string
		bits64 int64
		total  int64
	)
	for _, p := range byPlugin {
		p.Users = 0
	}
	_, err = pgx.ForEachRow(rows, []any{&plugin, &bits64}, func() error {
		n := int64(bits.OnesCount64(uint64(bits64)))
		if plugin == "" {
			total += n
			return nil
		}
		p := byPlugin[plugin]
		if p == nil {
			p = &PluginUse{Plugin: plugin}
			byPlugin[plugin] = p
		}
		p.Users += n
		return nil
	})
	return total, err
}

// Cohort of the weekly retention.
type Cohort struct {
	Week   time.Time
	Users  int64
	Active []int64
}

// Retention builds weekly cohorts (people only) for the weeks touching [start, end): users
// first seen in week N, and of them how many were active in week N+k, up to now's week.
func (s *Store) Retention(ctx context.Context, start, end, now time.Time) ([]Cohort, error) {
	monday := func(t time.Time) time.Time { t = dayUTC(t); return t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)) }
	w0 := monday(start)
	wEnd := monday(end.Add(-time.Nanosecond)).AddDate(0, 0, 7)
	current := monday(now)
	nWeeks := int(wEnd.Sub(w0).Hours() / (24 * 7))
	cohorts := make([]Cohort, nWeeks)
	for i := range cohorts {
		cohorts[i].Week = w0.AddDate(0, 0, 7*i)
		k := int(current.Sub(cohorts[i].Week).Hours()/(24*7)) + 1
		cohorts[i].Active = make([]int64, max(k, 0))
	}
	// A cohort is the bit set of its people's numbers (insights_users.num); week N+k's
	// activity is that week's set of people (insights_plugin_words, plugin '', by ISO week):
	// cohort N's retention at k is the size of their intersection. A row per person of the
	// range and a few dozen words per week, instead of every person's months.
	err := s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		sets := make([][]uint64, nWeeks)
		rows, err := tx.Query(ctx, `SELECT num, first_seen FROM insights_users
			WHERE first_seen >= $1 AND first_seen < $2 AND kind = 1 AND num IS NOT NULL`, w0, wEnd)
		if err != nil {
			return err
		}
		var (
			num   int64
			first time.Time
		)
		if _, err := pgx.ForEachRow(rows, []any{&num, &first}, func() error {
			ci := int(first.Sub(w0).Hours()) / (24 * 7)
			if ci < 0 || ci >= nWeeks || num < 0 || num >= 1<<30 {
				return nil
			}
			w := int(num / 64)
			if w >= len(sets[ci]) {
				sets[ci] = append(sets[ci], make([]uint64, w+1-len(sets[ci]))...)
			}
			sets[ci][w] |= 1 << (num % 64)
			cohorts[ci].Users++
			return nil
		}); err != nil {
			return err
		}
		var weeks []time.Time
		for t := w0; !t.After(current); t = t.AddDate(0, 0, 7) {
			weeks = append(weeks, t)
		}
		rows, err = tx.Query(ctx, `SELECT bucket, word, bits FROM insights_plugin_words
			WHERE grain = 'w' AND plugin = '' AND bucket = ANY($1::date[])`, weeks)
		if err != nil {
			return err
		}
		var (
			week   time.Time
			word   int64
			bits64 int64
		)
		_, err = pgx.ForEachRow(rows, []any{&week, &word, &bits64}, func() error {
			wi := int(week.Sub(w0).Hours()) / (24 * 7)
			for ci := 0; ci <= wi && ci < nWeeks; ci++ {
				if k := wi - ci; k < len(cohorts[ci].Active) && int(word) < len(sets[ci]) {
					cohorts[ci].Active[k] += int64(bits.OnesCount64(sets[ci][word] & uint64(bits64)))
				}
			}
			return nil
		})
		return err
	})
	return cohorts, err
}

// Quota is this month's count.
func (s *Store) Quota(ctx context.Context, now time.Time) (month time.Time, events, dropped int64, err error) {
	month = monthUTC(now)
	err = s.shards.InReadTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT events, dropped FROM insights_months WHERE month = $1`, month).Scan(&events, &dropped)
		if err == pgx.ErrNoRows {
			return nil
		}
		return err
	})
	return month, events, dropped, err
}
