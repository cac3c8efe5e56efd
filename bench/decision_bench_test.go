package bench

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mediagate/mediagate/internal/acl"
	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/db"
	"github.com/mediagate/mediagate/internal/errs"
	"github.com/mediagate/mediagate/internal/invalidate"
	"github.com/mediagate/mediagate/internal/media"
)

// The generated access model.
const (
	nUsers        = 10_000
	nEditors      = 200 // users 1..200 are editors and own the items and most folders
	nGroups       = 1_000
	nTrees        = 8  // top-level folders
	treeDepth     = 12 // every top-level folder is a full binary tree 12 levels deep
	perTree       = 1<<treeDepth - 1
	nFolders      = nTrees * perTree // 32,760
	nItems        = 1_000_000
	nBlobs        = 1_000
	nItemGrants   = 100_000
	nFolderGrants = 10_000
	nQuestions    = 20_000
	nWarm         = 500 // questions asked of each variant before measuring
)

// Folder n is md5('f'||n)::uuid, n = tree*4096 + k with k numbered as a
// binary heap (k's children are 2k and 2k+1; k's level is bits.Len(k)).
// Items, users and groups are md5('m'||i), md5('u'||i), md5('g'||i).
var modelSQL = []struct{ what, sql string }{
	{"users", `INSERT INTO users (id, email, role, password_hash)
		SELECT md5('u'||i)::uuid, 'u'||i||'@bench.test', CASE WHEN i <= ` + strconv.Itoa(nEditors) + ` THEN 'editor' ELSE 'viewer' END, 'x'
		FROM generate_series(1, ` + strconv.Itoa(nUsers) + `) i`},
	{"groups", `INSERT INTO groups (id, name) SELECT md5('g'||i)::uuid, 'g'||i FROM generate_series(1, ` + strconv.Itoa(nGroups) + `) i`},
	// Each user is in 2 to 8 groups (5 on average).
	{"group members", `INSERT INTO group_members (group_id, user_id)
		SELECT DISTINCT md5('g'||(1 + (hashint8(u::bigint*16 + k) & 2147483647) % ` + strconv.Itoa(nGroups) + `))::uuid, md5('u'||u)::uuid
		FROM generate_series(1, ` + strconv.Itoa(nUsers) + `) u, LATERAL generate_series(1, 2 + u % 7) k`},
	// Levels 1 and 2 belong to nobody (an admin made them); below, editors own folders.
	{"folders", `INSERT INTO folders (id, name, parent_id, owner_id)
		SELECT md5('f'||(t*4096 + k))::uuid, 'f'||(t*4096 + k),
			CASE WHEN k > 1 THEN md5('f'||(t*4096 + k/2))::uuid END,
			CASE WHEN k >= 4 THEN md5('u'||(1 + (hashint8(t*4096 + k) & 2147483647) % ` + strconv.Itoa(nEditors) + `))::uuid END
		FROM generate_series(0, ` + strconv.Itoa(nTrees-1) + `) t, generate_series(1, ` + strconv.Itoa(perTree) + `) k`},
	{"blobs", `INSERT INTO blobs (sha256, size, content_type, extension)
		SELECT encode(sha256(('b'||i)::bytea), 'hex'), 1024, 'video/mp4', '.mp4' FROM generate_series(1, ` + strconv.Itoa(nBlobs) + `) i`},
	// Items spread evenly over the folders (so half are 12 deep), 2% at the root.
	{"media", `INSERT INTO media (id, filename, blob, owner_id, folder_id, created_at)
		SELECT md5('m'||i)::uuid, 'item'||i||'.mp4', b.sha256,
			md5('u'||(1 + (hashint8(i::bigint*3) & 2147483647) % ` + strconv.Itoa(nEditors) + `))::uuid,
			CASE WHEN i % 50 <> 0 THEN md5('f'||(f / ` + strconv.Itoa(perTree) + ` * 4096 + 1 + f % ` + strconv.Itoa(perTree) + `))::uuid END,
			timestamptz '2025-01-01' + i * interval '1 second'
		FROM (SELECT i, (hashint8(i::bigint*7 + 1) & 2147483647) % ` + strconv.Itoa(nFolders) + ` AS f
			FROM generate_series(1, ` + strconv.Itoa(nItems) + `) i) s
		JOIN (SELECT i AS n, encode(sha256(('b'||i)::bytea), 'hex') AS sha256 FROM generate_series(1, ` + strconv.Itoa(nBlobs) + `) i) b
			ON b.n = 1 + s.i % ` + strconv.Itoa(nBlobs) + `
		ORDER BY 1`}, // in key order: the primary key's B-tree grows at its end
	// Item grants: 70% to users, 30% to groups.
	{"item grants", `INSERT INTO grants (media_id, subject_type, subject_id, permission)
		SELECT md5('m'||(1 + (hashint8(i::bigint*11 + 2) & 2147483647) % ` + strconv.Itoa(nItems) + `))::uuid,
			CASE WHEN i % 10 < 7 THEN 'user' ELSE 'group' END,
			CASE WHEN i % 10 < 7 THEN md5('u'||(1 + (hashint8(i::bigint*13 + 3) & 2147483647) % ` + strconv.Itoa(nUsers) + `))::uuid
				ELSE md5('g'||(1 + (hashint8(i::bigint*13 + 3) & 2147483647) % ` + strconv.Itoa(nGroups) + `))::uuid END,
			1 + i % 3
		FROM generate_series(1, ` + strconv.Itoa(nItemGrants) + `) i
		ON CONFLICT DO NOTHING`},
	// Folder grants at every level: 60% to groups, 39% to users, 1% to
	// everyone (on folders 9 to 12 deep only).
	{"folder grants", `INSERT INTO grants (folder_id, subject_type, subject_id, permission)
		SELECT md5('f'||(t*4096 + (1 << (lvl - 1)) + h % (1 << (lvl - 1))))::uuid, st,
			CASE st WHEN 'group' THEN md5('g'||(1 + h2 % ` + strconv.Itoa(nGroups) + `))::uuid
				WHEN 'user' THEN md5('u'||(1 + h2 % ` + strconv.Itoa(nUsers) + `))::uuid END,
			1 + i % 3
		FROM (SELECT i,
				CASE WHEN i % 100 < 60 THEN 'group' WHEN i % 100 < 99 THEN 'user' ELSE 'everyone' END AS st,
				CASE WHEN i % 100 = 99 THEN 9 + (i / 100) % 4 ELSE 1 + (hashint8(i::bigint*29 + 13) & 2147483647) % 12 END AS lvl,
				hashint8(i::bigint*17 + 5) & 2147483647 AS h,
				hashint8(i::bigint*19 + 7) & 2147483647 AS h2,
				(hashint8(i::bigint*23 + 11) & 2147483647) % ` + strconv.Itoa(nTrees) + ` AS t
			FROM generate_series(1, ` + strconv.Itoa(nFolderGrants) + `) i) s
		ON CONFLICT DO NOTHING`},
}

// The closure table, built in the bench database only, and the decision
// written against it: mg_level with the recursive walk up the folders
// replaced by one indexed lookup of the item folder's ancestors.
var closureSQL = []struct{ what, sql string }{
	{"closure table", `CREATE TABLE folder_paths (
		ancestor   uuid NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
		descendant uuid NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
		depth      int NOT NULL,
		PRIMARY KEY (descendant, ancestor))`},
	{"closure rows", `INSERT INTO folder_paths (ancestor, descendant, depth)
		WITH RECURSIVE p (ancestor, descendant, depth) AS (
			SELECT id, id, 0 FROM folders
			UNION ALL
			SELECT f.parent_id, p.descendant, p.depth + 1 FROM p JOIN folders f ON f.id = p.ancestor
			WHERE f.parent_id IS NOT NULL)
		SELECT ancestor, descendant, depth FROM p`},
	{"closure index", `CREATE INDEX folder_paths_ancestor_idx ON folder_paths (ancestor, descendant)`},
	{"closure function", `CREATE FUNCTION mg_level_closure(principal uuid, principal_role text, item uuid) RETURNS smallint
		LANGUAGE sql STABLE AS $$
			SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint
			ELSE COALESCE((
				SELECT GREATEST(
					CASE WHEN m.owner_id = principal THEN 3::smallint END,
					(SELECT max(g.permission) FROM grants g
					  WHERE g.media_id = m.id AND mg_subject_match(g.subject_type, g.subject_id, principal)),
					(SELECT 3::smallint FROM folder_paths p JOIN folders f ON f.id = p.ancestor
					  WHERE p.descendant = m.folder_id AND f.owner_id = principal LIMIT 1),
					(SELECT max(g.permission) FROM folder_paths p JOIN grants g ON g.folder_id = p.ancestor
					  WHERE p.descendant = m.folder_id AND mg_subject_match(g.subject_type, g.subject_id, principal)))
				FROM media m WHERE m.id = item
			), 0::smallint) END
		$$`},
	// The suggested fix, for both folder models: the principal's subjects
	// (everyone, the user, the user's groups) are listed once and each is
	// looked up in the grants' unique indexes, instead of calling
	// mg_subject_match (an SQL function that is never inlined: it holds a
	// sub-select) on every grant of the item and of every folder above it.
	// Written as set-returning SQL functions, which PostgreSQL inlines into
	// the calling statement (so pgx's prepared statement keeps their plan),
	// where a scalar SQL function with sub-selects is planned afresh on
	// every call.
	{"subjects function (CTE)", `CREATE FUNCTION mg_level_subjects(principal uuid, principal_role text, item uuid) RETURNS SETOF smallint
		LANGUAGE sql STABLE AS $$
			WITH RECURSIVE chain (id, owner_id, parent_id, depth) AS (
				SELECT f.id, f.owner_id, f.parent_id, 0 FROM folders f JOIN media m ON f.id = m.folder_id WHERE m.id = item
				UNION ALL
				SELECT f.id, f.owner_id, f.parent_id, c.depth + 1 FROM folders f JOIN chain c ON f.id = c.parent_id
				WHERE c.depth < 1000),
			` + subjectsCTE + `
			SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint ELSE COALESCE((
				SELECT GREATEST(
					CASE WHEN m.owner_id = principal THEN 3::smallint END,
					(SELECT max(g.permission) FROM subjects s JOIN grants g ON g.media_id = m.id AND ` + subjectJoin + `),
					(SELECT 3::smallint FROM chain WHERE owner_id = principal LIMIT 1),
					(SELECT max(g.permission) FROM chain c CROSS JOIN subjects s JOIN grants g ON g.folder_id = c.id AND ` + subjectJoin + `))
				FROM media m WHERE m.id = item), 0::smallint) END
		$$`},
	{"subjects function (closure)", `CREATE FUNCTION mg_level_closure_subjects(principal uuid, principal_role text, item uuid) RETURNS SETOF smallint
		LANGUAGE sql STABLE AS $$
			WITH ` + subjectsCTE + `
			SELECT CASE WHEN principal_role = 'admin' THEN 3::smallint ELSE COALESCE((
				SELECT GREATEST(
					CASE WHEN m.owner_id = principal THEN 3::smallint END,
					(SELECT max(g.permission) FROM subjects s JOIN grants g ON g.media_id = m.id AND ` + subjectJoin + `),
					(SELECT 3::smallint FROM folder_paths p JOIN folders f ON f.id = p.ancestor
					  WHERE p.descendant = m.folder_id AND f.owner_id = principal LIMIT 1),
					(SELECT max(g.permission) FROM folder_paths p CROSS JOIN subjects s JOIN grants g ON g.folder_id = p.ancestor AND ` + subjectJoin + `
					  WHERE p.descendant = m.folder_id))
				FROM media m WHERE m.id = item), 0::smallint) END
		$$`},
}

// subjectsCTE lists who a grant may name to reach principal: everyone (as
// the all-zero id the grants' unique indexes use), the user, its groups.
const subjectsCTE = `subjects (type, id) AS (
				SELECT 'everyone', '00000000-0000-0000-0000-000000000000'::uuid
				UNION ALL SELECT 'user', principal
				UNION ALL SELECT 'group', gm.group_id FROM group_members gm WHERE gm.user_id = principal)`

// subjectJoin matches a grant to a subject through the grants' unique indexes.
const subjectJoin = `g.subject_type = s.type AND COALESCE(g.subject_id, '00000000-0000-0000-0000-000000000000') = s.id`

// subjectMatch is mg_subject_match written out, for the one-query variants.
const subjectMatch = `(g.subject_type = 'everyone' OR (g.subject_type = 'user' AND g.subject_id = $1::uuid)
	OR (g.subject_type = 'group' AND EXISTS (
		SELECT 1 FROM group_members gm WHERE gm.group_id = g.subject_id AND gm.user_id = $1::uuid)))`

// inlineCTE is mg_level as one statement, without SQL functions.
const inlineCTE = `WITH RECURSIVE chain (id, owner_id, parent_id, depth) AS (
		SELECT f.id, f.owner_id, f.parent_id, 0 FROM folders f JOIN media m ON f.id = m.folder_id WHERE m.id = $3::uuid
		UNION ALL
		SELECT f.id, f.owner_id, f.parent_id, c.depth + 1 FROM folders f JOIN chain c ON f.id = c.parent_id
		WHERE c.depth < 1000)
	SELECT CASE WHEN $2::text = 'admin' THEN 3::smallint ELSE COALESCE((
		SELECT GREATEST(
			CASE WHEN m.owner_id = $1::uuid THEN 3::smallint END,
			(SELECT max(g.permission) FROM grants g WHERE g.media_id = m.id AND ` + subjectMatch + `),
			(SELECT 3::smallint FROM chain WHERE owner_id = $1::uuid LIMIT 1),
			(SELECT max(g.permission) FROM grants g JOIN chain c ON g.folder_id = c.id WHERE ` + subjectMatch + `))
		FROM media m WHERE m.id = $3::uuid), 0::smallint) END`

// inlineClosure is mg_level_closure as one statement.
const inlineClosure = `SELECT CASE WHEN $2::text = 'admin' THEN 3::smallint ELSE COALESCE((
		SELECT GREATEST(
			CASE WHEN m.owner_id = $1::uuid THEN 3::smallint END,
			(SELECT max(g.permission) FROM grants g WHERE g.media_id = m.id AND ` + subjectMatch + `),
			(SELECT 3::smallint FROM folder_paths p JOIN folders f ON f.id = p.ancestor
			  WHERE p.descendant = m.folder_id AND f.owner_id = $1::uuid LIMIT 1),
			(SELECT max(g.permission) FROM folder_paths p JOIN grants g ON g.folder_id = p.ancestor
			  WHERE p.descendant = m.folder_id AND ` + subjectMatch + `))
		FROM media m WHERE m.id = $3::uuid), 0::smallint) END`

// model is the generated database.
type model struct {
	name, url string
	pool      *pgxpool.Pool
	gen       time.Duration // users .. grants, plus VACUUM ANALYZE
	closure   time.Duration // building folder_paths
	counts    string
}

var (
	modelMu    sync.Mutex
	theModel   *model
	modelErr   error
	modelClean sync.Once
)

// accessModel returns the generated database, generating it on first use.
func accessModel(b *testing.B) *model {
	b.Helper()
	requirePostgres(b)
	modelMu.Lock()
	defer modelMu.Unlock()
	modelClean.Do(func() { atExit(releaseModel) })
	if theModel == nil && modelErr == nil {
		theModel, modelErr = buildModel(b)
	}
	if modelErr != nil {
		b.Fatal(modelErr)
	}
	return theModel
}

// releaseModel drops the generated database, if there is one.
func releaseModel() {
	modelMu.Lock()
	defer modelMu.Unlock()
	if theModel != nil {
		theModel.pool.Close()
		dropDatabase(theModel.name)
		theModel = nil
	}
}

func buildModel(b *testing.B) (*model, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := &model{}
	m.name, m.url = benchDatabase()
	pool, err := db.Open(ctx, m.url)
	if err != nil {
		return nil, err
	}
	m.pool = pool
	fail := func(err error) (*model, error) {
		pool.Close()
		dropDatabase(m.name)
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fail(err)
	}
	defer conn.Release()
	start := time.Now()
	// The rows are consistent by construction: no foreign-key checks and no
	// NOTIFY triggers while loading (replica mode skips both).
	for _, s := range []string{"SET session_replication_role = replica", "SET synchronous_commit = off",
		"SET maintenance_work_mem = '256MB'"} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fail(err)
		}
	}
	for _, s := range modelSQL {
		t := time.Now()
		// The million items go in faster without the indexes that back no
		// constraint; they are rebuilt, as the migrations define them, after.
		var rebuild []string
		if s.what == "media" {
			if rebuild, err = dropSecondaryIndexes(ctx, conn.Conn(), "media"); err != nil {
				return fail(err)
			}
		}
		tag, err := conn.Exec(ctx, s.sql)
		if err != nil {
			return fail(fmt.Errorf("generate %s: %w", s.what, err))
		}
		for _, def := range rebuild {
			if _, err := conn.Exec(ctx, def); err != nil {
				return fail(fmt.Errorf("rebuild index: %w", err))
			}
		}
		note(b, "generated %-13s %8d rows in %v", s.what, tag.RowsAffected(), time.Since(t).Round(time.Millisecond))
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = origin"); err != nil {
		return fail(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fail(err)
	}
	m.gen = time.Since(start)

	start = time.Now()
	for _, s := range closureSQL {
		if _, err := conn.Exec(ctx, s.sql); err != nil {
			return fail(fmt.Errorf("%s: %w", s.what, err))
		}
	}
	m.closure = time.Since(start)
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE folder_paths"); err != nil {
		return fail(err)
	}

	var counts []string
	for _, table := range []string{"users", "groups", "group_members", "folders", "media", "grants", "folder_paths"} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return fail(err)
		}
		counts = append(counts, fmt.Sprintf("%s %d", table, n))
	}
	var maxDepth, maxChain int
	var avgChain float64
	if err := conn.QueryRow(ctx, "SELECT max(depth) + 1 FROM folder_paths").Scan(&maxDepth); err != nil {
		return fail(err)
	}
	// How many folder grants a decision on an item in a folder has to weigh.
	if err := conn.QueryRow(ctx, `SELECT avg(n), max(n) FROM (
		SELECT count(g.folder_id) AS n FROM folder_paths p LEFT JOIN grants g ON g.folder_id = p.ancestor GROUP BY p.descendant) c`).
		Scan(&avgChain, &maxChain); err != nil {
		return fail(err)
	}
	m.counts = strings.Join(counts, ", ") + fmt.Sprintf("; folder levels: %d; folder grants above a folder: %.0f on average, %d at most",
		maxDepth, avgChain, maxChain)
	note(b, "access model generated in %v (closure table and functions %v more): %s", m.gen.Round(time.Millisecond),
		m.closure.Round(time.Millisecond), m.counts)
	return m, nil
}

// dropSecondaryIndexes drops table's indexes that back no constraint and
// returns the statements that create them again.
func dropSecondaryIndexes(ctx context.Context, conn *pgx.Conn, table string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename = $1
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname)||'.'||quote_ident(i.indexname))::regclass)`, table)
	if err != nil {
		return nil, err
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (index, error) {
		var i index
		return i, row.Scan(&i.name, &i.def)
	})
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", table, err)
	}
	var defs []string
	for _, i := range idx {
		if _, err := conn.Exec(ctx, "DROP INDEX "+pgx.Identifier{i.name}.Sanitize()); err != nil {
			return nil, err
		}
		defs = append(defs, i.def)
	}
	return defs, nil
}

// md5UUID is PostgreSQL's md5(s)::uuid.
func md5UUID(s string) string {
	sum := md5.Sum([]byte(s))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// folderID is the id of folder k (heap numbering) of tree t.
func folderID(t, k int) string { return md5UUID("f" + strconv.Itoa(t*4096+k)) }

// question is one decision to make.
type question struct {
	p     acl.Principal
	item  string
	level int // the depth of the item's folder; 0 at the root
}

// questions returns n random (user, item) questions, always the same ones.
func questions(ctx context.Context, pool *pgxpool.Pool, n int) ([]question, error) {
	rng := rand.New(rand.NewPCG(2024, 12))
	qs := make([]question, n)
	ids := make([]string, n)
	for i := range qs {
		u := 1 + rng.IntN(nUsers)
		role := acl.RoleViewer
		if u <= nEditors {
			role = acl.RoleEditor
		}
		qs[i] = question{p: acl.Principal{UserID: md5UUID("u" + strconv.Itoa(u)), Email: fmt.Sprintf("u%d@bench.test", u), Role: role},
			item: md5UUID("m" + strconv.Itoa(1+rng.IntN(nItems)))}
		ids[i] = qs[i].item
	}
	rows, err := pool.Query(ctx, `SELECT m.id::text, COALESCE(f.name, '') FROM media m LEFT JOIN folders f ON f.id = m.folder_id
		WHERE m.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	levels := map[string]int{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		if name != "" {
			n, _ := strconv.Atoi(strings.TrimPrefix(name, "f"))
			levels[id] = bits.Len(uint(n % 4096))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range qs {
		qs[i].level = levels[qs[i].item]
	}
	return qs, nil
}

// variant is one way of answering a question.
type variant struct {
	name string
	ask  func(ctx context.Context, q question) (acl.Level, error)
}

func queryLevel(pool *pgxpool.Pool, sql string) func(ctx context.Context, q question) (acl.Level, error) {
	return func(ctx context.Context, q question) (acl.Level, error) {
		var l acl.Level
		err := pool.QueryRow(ctx, sql, q.p.UserID, string(q.p.Role), q.item).Scan(&l)
		if errors.Is(err, pgx.ErrNoRows) {
			return acl.None, nil
		}
		return l, err
	}
}

// BenchmarkDecision measures acl.Decider.Level on the generated model (1M
// items, 10k users, 1k groups, folders 12 deep): uncached, cached (warmed,
// behind a running invalidation hub), and against the alternative of a
// closure table, over the same 20k random (user, item) questions. The
// uncached variants are asked in turn for each question, so they share the
// database's state; their answers must agree.
//
//	cte             acl.NewDecider(pool).Level: mg_level, whose recursive CTE walks up the folders
//	closure         the same SQL functions with the walk replaced by folder_paths (mg_level_closure)
//	cte-inline      mg_level's logic as one statement, no SQL functions
//	closure-inline  mg_level_closure's logic as one statement
//	cte-subjects    mg_level looking the principal's subjects up in the grants' indexes, as an
//	                inlinable set-returning function (the suggested fix)
//	closure-subjects the same on folder_paths
//	cached          acl.NewDecider(pool).Cached(hub).Level, every answer cached
func BenchmarkDecision(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		m := accessModel(b)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		qs, err := questions(ctx, m.pool, nQuestions)
		if err != nil {
			b.Fatal(err)
		}
		waitQuiet(b)
		uncached := acl.NewDecider(m.pool)
		variants := []variant{
			{"cte", func(ctx context.Context, q question) (acl.Level, error) { return uncached.Level(ctx, q.p, q.item) }},
			{"closure", queryLevel(m.pool, `SELECT mg_level_closure($1, $2, m.id) FROM media m WHERE m.id = $3`)},
			{"cte-inline", queryLevel(m.pool, inlineCTE)},
			{"closure-inline", queryLevel(m.pool, inlineClosure)},
			{"cte-subjects", queryLevel(m.pool, `SELECT l FROM mg_level_subjects($1, $2, $3) l`)},
			{"closure-subjects", queryLevel(m.pool, `SELECT l FROM mg_level_closure_subjects($1, $2, $3) l`)},
		}
		for _, v := range variants {
			for _, q := range qs[:nWarm] {
				if _, err := v.ask(ctx, q); err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
			}
		}
		lat := make([][]time.Duration, len(variants))
		byLevel := make([]map[string][]time.Duration, len(variants))
		answers := make([]acl.Level, len(qs))
		allowed := 0
		for i := range lat {
			lat[i] = make([]time.Duration, 0, len(qs))
			byLevel[i] = map[string][]time.Duration{}
		}
		start := time.Now()
		for i, q := range qs {
			for j := range variants {
				vi := (i + j) % len(variants) // each variant goes first as often as the others
				t := time.Now()
				l, err := variants[vi].ask(ctx, q)
				d := time.Since(t)
				if err != nil {
					b.Fatalf("%s: %v", variants[vi].name, err)
				}
				if j == 0 {
					answers[i] = l
				} else if l != answers[i] {
					b.Fatalf("question %d (%s on %s): %s answered %v, another variant %v", i, q.p.Email, q.item, variants[vi].name, l, answers[i])
				}
				lat[vi] = append(lat[vi], d)
				byLevel[vi][levelBucket(q.level)] = append(byLevel[vi][levelBucket(q.level)], d)
			}
			if answers[i] >= acl.View {
				allowed++
			}
		}
		note(b, "%d questions x %d uncached variants in %v; all variants agree; %.1f%% allowed",
			len(qs), len(variants), time.Since(start).Round(time.Millisecond), 100*float64(allowed)/float64(len(qs)))

		// Cached: a decider behind a live hub, warmed with every question.
		hub, stop, err := startHub(m.url)
		if err != nil {
			b.Fatal(err)
		}
		defer stop()
		cached := acl.NewDecider(m.pool).Cached(hub)
		for i, q := range qs {
			l, err := cached.Level(ctx, q.p, q.item)
			if err != nil || l != answers[i] {
				b.Fatalf("cached warm-up, question %d: %v, %v; want %v", i, l, err, answers[i])
			}
		}
		acquires := m.pool.Stat().AcquireCount()
		cachedLat := make([]time.Duration, len(qs))
		for i, q := range qs {
			t := time.Now()
			l, err := cached.Level(ctx, q.p, q.item)
			cachedLat[i] = time.Since(t)
			if err != nil || l != answers[i] {
				b.Fatalf("cached, question %d: %v, %v; want %v", i, l, err, answers[i])
			}
		}
		if n := m.pool.Stat().AcquireCount() - acquires; n != 0 {
			note(b, "warning: %d cached questions went to the database", n)
		}

		sum := map[string]summary{}
		out := map[string]float64{}
		for i, v := range variants {
			sum[v.name] = summarize(lat[i])
			note(b, "%-16s %s", v.name, sum[v.name])
			var parts []string
			for _, bucket := range []string{"root", "1-4", "5-8", "9-11", "12"} {
				parts = append(parts, fmt.Sprintf("%s: %s", bucket, round(summarize(byLevel[i][bucket]).P50)))
			}
			note(b, "%-16s p50 by the item's folder depth: %s", v.name, strings.Join(parts, ", "))
			out[v.name+"-p50-us"] = us(sum[v.name].P50)
			out[v.name+"-p99-us"] = us(sum[v.name].P99)
		}
		sum["cached"] = summarize(cachedLat)
		note(b, "%-16s %s", "cached", sum["cached"])
		out["cached-p50-us"] = us(sum["cached"].P50)
		out["cached-p99-us"] = us(sum["cached"].P99)
		cte, clo := sum["cte"], sum["closure"]
		out["closure/cte-p50"] = float64(clo.P50) / float64(cte.P50)
		out["closure/cte-p99"] = float64(clo.P99) / float64(cte.P99)
		out["cached/cte-p50"] = float64(sum["cached"].P50) / float64(cte.P50)
		out["inline-closure/inline-cte-p50"] = float64(sum["closure-inline"].P50) / float64(sum["cte-inline"].P50)
		out["inline-cte/cte-p50"] = float64(sum["cte-inline"].P50) / float64(cte.P50)
		out["subjects/cte-p50"] = float64(sum["cte-subjects"].P50) / float64(cte.P50)
		out["subjects/cte-p99"] = float64(sum["cte-subjects"].P99) / float64(cte.P99)
		out["closure-subjects/cte-subjects-p50"] = float64(sum["closure-subjects"].P50) / float64(sum["cte-subjects"].P50)
		out["closure-subjects/cte-subjects-p99"] = float64(sum["closure-subjects"].P99) / float64(sum["cte-subjects"].P99)
		b.Logf("uncached (mg_level, recursive CTE): %s; cached: %s", cte, sum["cached"])
		b.Logf("closure/cte: p50 %.2f, p99 %.2f; as one statement: p50 %.2f; with subjects looked up: p50 %.2f, p99 %.2f",
			out["closure/cte-p50"], out["closure/cte-p99"], out["inline-closure/inline-cte-p50"],
			out["closure-subjects/cte-subjects-p50"], out["closure-subjects/cte-subjects-p99"])
		b.Logf("subjects looked up / mg_level: p50 %.2f, p99 %.2f; cached/uncached p50 %.4f",
			out["subjects/cte-p50"], out["subjects/cte-p99"], out["cached/cte-p50"])
		return out
	})
}

func levelBucket(l int) string {
	switch {
	case l == 0:
		return "root"
	case l <= 4:
		return "1-4"
	case l <= 8:
		return "5-8"
	case l <= 11:
		return "9-11"
	}
	return "12"
}

// startHub runs an invalidation hub on url until stop is called.
func startHub(url string) (*invalidate.Hub, func(), error) {
	hub := invalidate.NewHub(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hub.Run(ctx, func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) })
	}()
	stop := func() { cancel(); <-done }
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := hub.WaitHealthy(wctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("invalidation hub: %w", err)
	}
	return hub, stop, nil
}

// The folder moved by BenchmarkFolderMove: folder 4 of tree 0 (level 3) and
// the 1,022 folders below it, between its parent (2) and folder 2 of tree 1.
const (
	moves     = 10
	moveTree  = 0
	moveK     = 4
	moveHomeK = 2
)

// moveCTE is a move as acl.UpdateFolder does it today: one mover at a time,
// a cycle check walking up from the new parent, one row updated.
func moveCTE(ctx context.Context, pool *pgxpool.Pool, id, parent string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mediagate.folders', 0))`); err != nil {
			return err
		}
		var cycle bool
		if err := tx.QueryRow(ctx, `
			WITH RECURSIVE up (id, parent_id) AS (
				SELECT id, parent_id FROM folders WHERE id = $1
				UNION ALL
				SELECT f.id, f.parent_id FROM folders f JOIN up ON f.id = up.parent_id
			)
			SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)`, parent, id).Scan(&cycle); err != nil {
			return err
		}
		if cycle {
			return errors.New("cycle")
		}
		_, err := tx.Exec(ctx, `UPDATE folders SET parent_id = $2 WHERE id = $1`, id, parent)
		return err
	})
}

// moveClosure is the same move keeping folder_paths exact: the subtree's
// paths to its old ancestors go, paths to the new ones come.
func moveClosure(ctx context.Context, pool *pgxpool.Pool, id, parent string) (rows int64, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('mediagate.folders', 0))`); err != nil {
			return err
		}
		var cycle bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM folder_paths WHERE ancestor = $1 AND descendant = $2)`,
			id, parent).Scan(&cycle); err != nil {
			return err
		}
		if cycle {
			return errors.New("cycle")
		}
		if _, err := tx.Exec(ctx, `UPDATE folders SET parent_id = $2 WHERE id = $1`, id, parent); err != nil {
			return err
		}
		del, err := tx.Exec(ctx, `DELETE FROM folder_paths
			WHERE descendant IN (SELECT descendant FROM folder_paths WHERE ancestor = $1)
			AND ancestor IN (SELECT ancestor FROM folder_paths WHERE descendant = $1 AND ancestor <> $1)`, id)
		if err != nil {
			return err
		}
		ins, err := tx.Exec(ctx, `INSERT INTO folder_paths (ancestor, descendant, depth)
			SELECT up.ancestor, down.descendant, up.depth + down.depth + 1
			FROM folder_paths up, folder_paths down
			WHERE up.descendant = $2 AND down.ancestor = $1`, id, parent)
		rows = del.RowsAffected() + ins.RowsAffected()
		return err
	})
	return rows, err
}

// BenchmarkFolderMove is the cost of moving a subtree of 1,023 folders for
// each approach: today's (one row; decisions walk up at read time) and the
// closure table's (one row plus the subtree's ancestor paths rewritten).
// Both flush every instance's decision cache through NOTIFY.
func BenchmarkFolderMove(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		m := accessModel(b)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		id, home, away := folderID(moveTree, moveK), folderID(moveTree, moveHomeK), folderID(moveTree+1, moveHomeK)
		var size int
		if err := m.pool.QueryRow(ctx, `SELECT count(*) FROM folder_paths WHERE ancestor = $1`, id).Scan(&size); err != nil {
			b.Fatal(err)
		}
		var cteLat, cloLat []time.Duration
		var rows int64
		for i := range moves {
			to := away
			if i%2 == 1 {
				to = home
			}
			t := time.Now()
			if err := moveCTE(ctx, m.pool, id, to); err != nil {
				b.Fatalf("move (recursive CTE model): %v", err)
			}
			cteLat = append(cteLat, time.Since(t))
		}
		for i := range moves {
			to := away
			if i%2 == 1 {
				to = home
			}
			t := time.Now()
			n, err := moveClosure(ctx, m.pool, id, to)
			if err != nil {
				b.Fatalf("move (closure table): %v", err)
			}
			cloLat = append(cloLat, time.Since(t))
			rows = n
		}
		// The closure table must still be exactly the tree's.
		var wrong int
		if err := m.pool.QueryRow(ctx, `
			WITH RECURSIVE p (ancestor, descendant, depth) AS (
				SELECT id, id, 0 FROM folders
				UNION ALL
				SELECT f.parent_id, p.descendant, p.depth + 1 FROM p JOIN folders f ON f.id = p.ancestor
				WHERE f.parent_id IS NOT NULL),
			diff AS ((SELECT * FROM p EXCEPT SELECT * FROM folder_paths) UNION ALL (SELECT * FROM folder_paths EXCEPT SELECT * FROM p))
			SELECT count(*) FROM diff`).Scan(&wrong); err != nil {
			b.Fatal(err)
		}
		if wrong != 0 {
			b.Fatalf("after the moves folder_paths differs from the tree in %d rows", wrong)
		}
		cte, clo := summarize(cteLat), summarize(cloLat)
		b.Logf("moving a subtree of %d folders: recursive CTE model %s; closure table %s", size, cte, clo)
		note(b, "%d folder_paths rows deleted+inserted per move; folder_paths checked exact afterwards; closure table built from scratch in %v",
			rows, m.closure.Round(time.Millisecond))
		return map[string]float64{
			"folders":              float64(size),
			"cte-move-p50-ms":      ms(cte.P50),
			"cte-move-max-ms":      ms(cte.Max),
			"closure-move-p50-ms":  ms(clo.P50),
			"closure-move-max-ms":  ms(clo.Max),
			"closure/cte-move-p50": float64(clo.P50) / float64(cte.P50),
			"closure-build-ms":     ms(m.closure),
		}
	})
}

// instance is one Mediagate's decision machinery: its own pool, hub, cached
// decider and item store.
type instance struct {
	pool   *pgxpool.Pool
	decide *acl.Decider
	store  *media.Store
	stop   func()
}

func newInstance(ctx context.Context, url, dataDir string) (*instance, error) {
	pool, err := db.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	hub, stopHub, err := startHub(url)
	if err != nil {
		pool.Close()
		return nil, err
	}
	cfg := config.Default()
	cfg.DataDir = dataDir
	disk, err := media.OpenDisk(cfg)
	if err != nil {
		stopHub()
		pool.Close()
		return nil, err
	}
	d := acl.NewDecider(pool).Cached(hub)
	return &instance{pool: pool, decide: d, store: media.NewStore(pool, media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: 1 << 30}, d, slog.New(slog.NewTextHandler(io.Discard, nil))),
		stop: func() { stopHub(); disk.Close(); pool.Close() }}, nil
}

const revokes = 200

// BenchmarkRevokeToDeny measures how long a revoke made through instance A
// takes to reach instance B, which had the allow cached: two instances (own
// pools, own hubs) on the generated database; 200 revokes, alternately of a
// grant on the item and of a grant on a folder six levels above it; B polls
// its Store.Get (the streaming path) and Decider.Level every 50µs. Target:
// under 100 ms.
func BenchmarkRevokeToDeny(b *testing.B) {
	measureOnce(b, func(b *testing.B) map[string]float64 {
		m := accessModel(b)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()

		// A dedicated corner of the model: an admin, a viewer in no group,
		// and an item 12 folders deep under a new top-level folder that no
		// grant reaches.
		var adminID, viewerID, sha string
		if err := m.pool.QueryRow(ctx, `INSERT INTO users (email, role, password_hash) VALUES ('revoker@bench.test', 'admin', 'x') RETURNING id`).Scan(&adminID); err != nil {
			b.Fatal(err)
		}
		if err := m.pool.QueryRow(ctx, `INSERT INTO users (email, role, password_hash) VALUES ('revokee@bench.test', 'viewer', 'x') RETURNING id`).Scan(&viewerID); err != nil {
			b.Fatal(err)
		}
		if err := m.pool.QueryRow(ctx, `SELECT sha256 FROM blobs LIMIT 1`).Scan(&sha); err != nil {
			b.Fatal(err)
		}
		var chain []string
		var parent any // nil: the new folder is at the top
		for i := range treeDepth {
			var id string
			if err := m.pool.QueryRow(ctx, `INSERT INTO folders (name, parent_id, owner_id) VALUES ($1, $2, $3) RETURNING id`,
				fmt.Sprintf("revoke-%d", i), parent, adminID).Scan(&id); err != nil {
				b.Fatal(err)
			}
			chain = append(chain, id)
			parent = id
		}
		var item string
		if err := m.pool.QueryRow(ctx, `INSERT INTO media (filename, blob, owner_id, folder_id) VALUES ('revoked.mp4', $1, $2, $3) RETURNING id`,
			sha, adminID, chain[len(chain)-1]).Scan(&item); err != nil {
			b.Fatal(err)
		}
		folder := chain[treeDepth-1-6]
		admin := acl.Principal{UserID: adminID, Email: "revoker@bench.test", Role: acl.RoleAdmin}
		viewer := acl.Principal{UserID: viewerID, Email: "revokee@bench.test", Role: acl.RoleViewer}
		const subject = "user:revokee@bench.test"

		dir, err := os.MkdirTemp("", "mediagate-bench-revoke-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		a, err := newInstance(ctx, m.url, filepath.Join(dir, "a"))
		if err != nil {
			b.Fatal(err)
		}
		defer a.stop()
		bi, err := newInstance(ctx, m.url, filepath.Join(dir, "b"))
		if err != nil {
			b.Fatal(err)
		}
		defer bi.stop()

		// allows reports whether B lets the viewer view the item, through
		// the store and through the decider.
		allows := func() (store, level bool, err error) {
			_, err = bi.store.Get(ctx, viewer, item)
			switch {
			case err == nil:
				store = true
			case errors.Is(err, errs.ErrNotFound):
				err = nil
			default:
				return false, false, err
			}
			l, err := bi.decide.Level(ctx, viewer, item)
			return store, l >= acl.View, err
		}

		var fromStart, fromCommit, levelFromStart []time.Duration
		for i := range revokes {
			onFolder := i%2 == 1
			if onFolder {
				err = a.decide.SetFolderGrant(ctx, admin, folder, subject, acl.View)
			} else {
				err = a.decide.SetGrant(ctx, admin, item, subject, acl.View)
			}
			if err != nil {
				b.Fatal(err)
			}
			// Wait until B allows, and answers from its caches alone.
			deadline := time.Now().Add(5 * time.Second)
			for {
				s, l, err := allows()
				if err != nil {
					b.Fatal(err)
				}
				if s && l {
					before := bi.pool.Stat().AcquireCount()
					s, l, err = allows()
					if err == nil && s && l && bi.pool.Stat().AcquireCount() == before {
						break
					}
				}
				if time.Now().After(deadline) {
					b.Fatalf("revoke %d: B does not allow (from its cache) 5s after the grant", i)
				}
				time.Sleep(time.Millisecond)
			}

			start := time.Now()
			if onFolder {
				err = a.decide.RemoveFolderGrant(ctx, admin, folder, subject)
			} else {
				err = a.decide.RemoveGrant(ctx, admin, item, subject)
			}
			committed := time.Now()
			if err != nil {
				b.Fatal(err)
			}
			var storeAt, levelAt time.Time
			deadline = time.Now().Add(5 * time.Second)
			for storeAt.IsZero() || levelAt.IsZero() {
				s, l, err := allows()
				now := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				if !s && storeAt.IsZero() {
					storeAt = now
				}
				if !l && levelAt.IsZero() {
					levelAt = now
				}
				if now.After(deadline) {
					b.Fatalf("revoke %d: B still allows 5s after the revoke", i)
				}
				time.Sleep(50 * time.Microsecond)
			}
			fromStart = append(fromStart, storeAt.Sub(start))
			fromCommit = append(fromCommit, storeAt.Sub(committed))
			levelFromStart = append(levelFromStart, levelAt.Sub(start))
		}
		st, cm, lv := summarize(fromStart), summarize(fromCommit), summarize(levelFromStart)
		b.Logf("revoke on A -> deny on B's Store.Get: %s (target < 100ms: %s)", st, verdict(st.Max < 100*time.Millisecond))
		b.Logf("A's commit   -> deny on B's Store.Get: %s", cm)
		b.Logf("revoke on A -> deny on B's Decider.Level: %s", lv)
		return map[string]float64{
			"revoke-deny-p50-ms":    ms(st.P50),
			"revoke-deny-p99-ms":    ms(st.P99),
			"revoke-deny-max-ms":    ms(st.Max),
			"commit-deny-p50-ms":    ms(cm.P50),
			"commit-deny-p99-ms":    ms(cm.P99),
			"level-deny-p99-ms":     ms(lv.P99),
			"revoke-deny-max/100ms": ms(st.Max) / 100,
			"revoke-deny-p99/100ms": ms(st.P99) / 100,
		}
	})
}
