package tenantarchive

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ExportTable emits every row of table (a name, or schema and name) that matches where
// (SQL, may be empty; args are its parameters), in order, as a record line named name. The
// row is Postgres's row_to_json of the table's row, so the record carries every column.
func ExportTable(ctx context.Context, tx pgx.Tx, name string, table pgx.Identifier, where, order string, args []any, emit func(string) error) error {
	sql := "SELECT row_to_json(t)::text FROM " + table.Sanitize() + " t"
	if where != "" {
		sql += " WHERE " + where
	}
	if order != "" {
		sql += " ORDER BY " + order
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	defer rows.Close()
	prefix := `{"table":` + quote(name) + `,"row":`
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
		if err := emit(prefix + row + "}"); err != nil {
			return err
		}
	}
	return rows.Err()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Inserter restores rows into tables in batches (json_populate_recordset), inside the
// caller's transaction. Columns a row lacks take NULL, except the ones Omit names, which take
// their defaults (a bigserial id, say).
type Inserter struct {
	tx      pgx.Tx
	batch   int
	pending map[string]*pendingRows
	order   []string
	// Omit lists, per table key, the columns left to their defaults.
	Omit map[string][]string
	// Select gives, per table key, the expression inserted for a column instead of the
	// archive's value as it is (the expression reads that value as the quoted column name):
	// for a store that keeps a column in a normal form, such as json text as jsonb prints it.
	Select map[string]map[string]string
	// Count is the rows inserted per table key.
	Count map[string]int64
}

type pendingRows struct {
	table pgx.Identifier
	rows  []json.RawMessage
	cols  []string
	sel   []string // what is inserted for each of cols
}

// NewInserter returns an inserter writing in batches of batch rows.
func NewInserter(tx pgx.Tx, batch int) *Inserter {
	if batch <= 0 {
		batch = 500
	}
	return &Inserter{tx: tx, batch: batch, pending: map[string]*pendingRows{}, Omit: map[string][]string{},
		Select: map[string]map[string]string{}, Count: map[string]int64{}}
}

// Add queues row (a JSON object) for table, known as key.
func (in *Inserter) Add(ctx context.Context, key string, table pgx.Identifier, row json.RawMessage) error {
	p := in.pending[key]
	if p == nil {
		p = &pendingRows{table: table}
		in.pending[key] = p
		in.order = append(in.order, key)
	}
	p.rows = append(p.rows, row)
	if len(p.rows) >= in.batch {
		return in.flush(ctx, key, p)
	}
	return nil
}

// Flush writes every queued row, tables in the order they were first added.
func (in *Inserter) Flush(ctx context.Context) error {
	for _, k := range in.order {
		if err := in.flush(ctx, k, in.pending[k]); err != nil {
			return err
		}
	}
	return nil
}

// FlushTable writes the queued rows of one table (before rows that refer to them).
func (in *Inserter) FlushTable(ctx context.Context, key string) error {
	if p := in.pending[key]; p != nil {
		return in.flush(ctx, key, p)
	}
	return nil
}

func (in *Inserter) flush(ctx context.Context, key string, p *pendingRows) error {
	if len(p.rows) == 0 {
		return nil
	}
	if p.cols == nil {
		cols, err := columns(ctx, in.tx, p.table)
		if err != nil {
			return fmt.Errorf("import %s: %w", key, err)
		}
		omit := map[string]bool{}
		for _, c := range in.Omit[key] {
			omit[c] = true
		}
		for _, c := range cols {
			if !omit[c] {
				q := pgx.Identifier{c}.Sanitize()
				p.cols = append(p.cols, q)
				if e, ok := in.Select[key][c]; ok {
					q = e
				}
				p.sel = append(p.sel, q)
			}
		}
	}
	arr, err := json.Marshal(p.rows)
	if err != nil {
		return err
	}
	t := p.table.Sanitize()
	tag, err := in.tx.Exec(ctx, "INSERT INTO "+t+" ("+strings.Join(p.cols, ", ")+") SELECT "+strings.Join(p.sel, ", ")+" FROM json_populate_recordset(NULL::"+t+", $1::json)", string(arr))
	if err != nil {
		return fmt.Errorf("import %s: %w", key, err)
	}
	in.Count[key] += tag.RowsAffected()
	p.rows = p.rows[:0]
	return nil
}

func columns(ctx context.Context, tx pgx.Tx, table pgx.Identifier) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table.Sanitize())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Remap replaces the string field of a JSON object row through ids, giving a value not seen
// before a new id from fresh (a null or missing field is left as it is).
func Remap(row json.RawMessage, ids map[string]string, fresh func() string, fields ...string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(row, &obj); err != nil {
		return nil, err
	}
	for _, f := range fields {
		raw, ok := obj[f]
		if !ok || string(raw) == "null" {
			continue
		}
		var old string
		if err := json.Unmarshal(raw, &old); err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		nw, ok := ids[old]
		if !ok {
			nw = fresh()
			ids[old] = nw
		}
		obj[f] = json.RawMessage(quote(nw))
	}
	return json.Marshal(obj)
}

// Set returns row with fields set to values (JSON-encoded).
func Set(row json.RawMessage, values map[string]any) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(row, &obj); err != nil {
		return nil, err
	}
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		obj[k] = b
	}
	return json.Marshal(obj)
}
