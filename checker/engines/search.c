/* Breadth-first search over packed states: the fixed half of the compiled
 * explicit engine (checker/engines/codegen.py generates the other half for
 * one spec: NF, NW, NB, NH, HIST[], NOPS, NPROPS, SAT_*, result_t, OPS[],
 * PROPS[], pack(), unpack(), drop_history(), canon_pack()).
 *
 * A state is packed into NW words whose first NB bytes hold every bit, and
 * stored as those NB bytes (little-endian words: the low bytes come first),
 * in one array in breadth-first order, so the array is also the queue:
 * level d is a range of indices.
 * The visited set is an open-addressing table of 32-bit indices into that
 * array.  Each state keeps only its parent's index: a shortest run is the
 * chain of parents, and the step between two of its states is found again
 * on the concrete interpretation (compiled.py, rebuild_run). */

typedef int (*progress_cb)(int depth, int64_t states, int64_t bytes);

typedef struct {
    uint8_t *states;          /* NB bytes a state */
    uint32_t *parent;
    uint32_t *table;
    int64_t n, cap;
    uint64_t tsize;           /* table slots: not a power of two, see slot_of */
    /* coverage (search_cover): each operation's two groups (its action and
     * its code path), the expanded states that enable each group, the steps
     * each operation took; NULL: no coverage, and the search stops once
     * every property checked is violated */
    const int32_t *cov_group; /* 2 an operation */
    int64_t *cov_enabled;     /* a group */
    int64_t *cov_taken;       /* NOPS */
    int64_t *cov_stamp;       /* a group: 1 + the last state that counted */
} search_t;

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "states are stored as the low NB bytes of little-endian words"
#endif

/* Stored state i as NW words. */
static void load(const search_t *s, int64_t i, uint64_t *w) {
    w[NW - 1] = 0;
    memcpy(w, s->states + i * NB, NB);
}

static uint64_t hash_words(const uint64_t *w) {
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < NW; i++) {
        h ^= w[i];
        h *= 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    return h;
}

/* The slot of hash h in a table of `size` slots: h's high bits scaled to
 * the size (a multiply, not a modulo), so the table can grow by a quarter
 * rather than double: 5.3 to 6.7 bytes a state, not 5.3 to 10.7. */
static uint64_t slot_of(uint64_t h, uint64_t size) {
    return (uint64_t)(((unsigned __int128)h * size) >> 64);
}

/* The table is only an index into the state array, so it is rebuilt from
 * that array: the old one is freed first and never held beside the new. */
static int grow_table(search_t *s) {
    uint64_t size = s->tsize + s->tsize / 4;
    uint64_t w[NW];
    free(s->table);
    s->table = calloc(size, sizeof(uint32_t));
    if (!s->table) return 0;
    s->tsize = size;
    for (int64_t i = 0; i < s->n; i++) {
        load(s, i, w);
        uint64_t h = slot_of(hash_words(w), size);
        while (s->table[h]) h = h + 1 == size ? 0 : h + 1;
        s->table[h] = (uint32_t)(i + 1);
    }
    return 1;
}

/* By half again: large blocks are mapped, so realloc moves no bytes and the
 * capacity not yet filled is never touched. */
static int grow_states(search_t *s) {
    int64_t cap = s->cap + s->cap / 2;
    uint8_t *st = realloc(s->states, cap * NB);
    if (!st) return 0;
    s->states = st;
    uint32_t *pa = realloc(s->parent, cap * sizeof(uint32_t));
    if (!pa) return 0;
    s->parent = pa;
    s->cap = cap;
    return 1;
}

/* Index of the state `w`, inserting it if new (*fresh = 1); -1 on no memory. */
static int64_t intern(search_t *s, const uint64_t *w, uint32_t parent, int *fresh) {
    /* at most three quarters full: linear probing stays short */
    if ((uint64_t)s->n * 4 >= s->tsize * 3 && !grow_table(s)) return -1;
    uint64_t h = slot_of(hash_words(w), s->tsize);
    for (;;) {
        uint32_t e = s->table[h];
        if (!e) break;
        if (!memcmp(s->states + (int64_t)(e - 1) * NB, w, NB)) {
            *fresh = 0;
            return e - 1;
        }
        h = h + 1 == s->tsize ? 0 : h + 1;
    }
    if (s->n == s->cap && !grow_states(s)) return -1;
    memcpy(s->states + s->n * NB, w, NB);
    s->parent[s->n] = parent;
    s->table[h] = (uint32_t)(s->n + 1);
    *fresh = 1;
    return s->n++;
}

static int64_t held(const search_t *s) {
    return s->cap * (NB + 4) + (int64_t)s->tsize * 4;
}

search_t *search_new(void) {
    search_t *s = calloc(1, sizeof(search_t));
    if (!s) return NULL;
    s->cap = 1 << 16;
    s->states = malloc(s->cap * NB);
    s->parent = malloc(s->cap * sizeof(uint32_t));
    s->tsize = 1 << 17;
    s->table = calloc(s->tsize, sizeof(uint32_t));
    if (!s->states || !s->parent || !s->table) return NULL;
    return s;
}

void search_free(search_t *s) {
    if (!s) return;
    free(s->states); free(s->parent); free(s->table); free(s->cov_stamp); free(s);
}

/* Count coverage in the next search_run, into the caller's `enabled` (one
 * a group) and `taken` (NOPS), with `group` the two groups of each
 * operation; 0 on no memory. */
int search_cover(search_t *s, const int32_t *group, int ngroups, int64_t *enabled,
                 int64_t *taken) {
    s->cov_stamp = calloc(ngroups > 0 ? ngroups : 1, sizeof(int64_t));
    if (!s->cov_stamp) return 0;
    s->cov_group = group; s->cov_enabled = enabled; s->cov_taken = taken;
    return 1;
}

static void cover(search_t *s, int64_t i, int o) {
    s->cov_taken[o]++;
    for (int k = 0; k < 2; k++) {
        int32_t g = s->cov_group[2 * o + k];
        if (s->cov_stamp[g] != i + 1) {
            s->cov_stamp[g] = i + 1;
            s->cov_enabled[g]++;
        }
    }
}

/* Pack `v` with the history slots outside `keep` (bit h for HIST[h])
 * zeroed, canonically when `reduce`; 0, or 1 + the field out of range. */
static int store_form(const int64_t *v, int reduce, uint64_t keep, uint64_t *w) {
    if (reduce) return canon_pack(v, keep, w);
    int64_t u[NF];
    memcpy(u, v, sizeof(u));
    drop_history(u, keep);
    return pack(u, w);
}

/* The saturated counter (layout.py, Saturation): a stored value at
 * SAT_FLOOR stands for every value at or below it, so such a state is
 * expanded from each of SAT_FLOOR - j, j <= SAT_SPAN, and a successor below
 * the floor is stored at it.  SAT_FIELD < 0: no counter to saturate. */
static int sat_spread(const int64_t *v) {
#if SAT_FIELD >= 0
    return v[SAT_FIELD] == SAT_FLOOR ? SAT_SPAN : 0;
#else
    (void)v;
    return 0;
#endif
}

static void sat_set(int64_t *v, int j) {
#if SAT_FIELD >= 0
    v[SAT_FIELD] = SAT_FLOOR - j;
#else
    (void)v; (void)j;
#endif
}

static int sat_clamp(int64_t *t) {
#if SAT_FIELD >= 0
    if (t[SAT_FIELD] < SAT_FLOOR) { t[SAT_FIELD] = SAT_FLOOR; return 1; }
#else
    (void)t;
#endif
    return 0;
}

static void check_props(const int64_t *v, int64_t idx, uint64_t check, result_t *r, int *open) {
    for (int p = 0; p < NPROPS; p++)
        if ((check >> p & 1) && r->viol_index[p] < 0 && !PROPS[p](v)) {
            r->viol_index[p] = idx;
            (*open)--;
        }
}

/* The search from `init` for the properties in `check` (bit p for PROPS[p]),
 * keeping the history slots in `keep` (store_form). */
int search_run(search_t *s, const int64_t *init, int max_depth, int reduce, int64_t max_states,
               uint64_t keep, uint64_t check, progress_cb cb, result_t *r) {
    int64_t v[NF], t[NF];
    uint64_t w[NW];
    int open = 0, fresh, bad;
    memset(r, 0, sizeof(*r));
    for (int p = 0; p < NPROPS; p++) {
        r->viol_index[p] = -1;
        open += check >> p & 1;
    }
    if ((bad = store_form(init, reduce, keep, w))) {
        r->error = 1; r->error_field = bad - 1; r->error_value = init[bad - 1];
        return 0;
    }
    intern(s, w, 0, &fresh);
    unpack(w, v);
    check_props(v, 0, check, r, &open);
    int64_t begin = 0, end = s->n;
    while (begin < end && r->depth < max_depth && (open > 0 || s->cov_group)) {
        for (int64_t i = begin; i < end; i++) {
            load(s, i, w);
            unpack(w, v);
            int spread = sat_spread(v);
            for (int j = 0; j <= spread; j++) {
              if (spread) sat_set(v, j);
              for (int o = 0; o < NOPS; o++) {
                if (!OPS[o](v, t)) continue;
                r->transitions++;
                if (s->cov_group) cover(s, i, o);
                r->saturated += sat_clamp(t);
                if ((bad = store_form(t, reduce, keep, w))) {
                    r->error = 1; r->error_field = bad - 1; r->error_value = t[bad - 1];
                    goto out;
                }
                int64_t j = intern(s, w, (uint32_t)i, &fresh);
                if (j < 0) { r->error = 2; goto out; }
                if (fresh) {
                    if (open > 0) {
                        unpack(w, t);
                        check_props(t, j, check, r, &open);
                    }
                    if (s->n >= max_states) { r->error = 3; goto out; }
                }
              }
            }
            if (cb && (i & 0xFFFF) == 0xFFFF && cb(r->depth + 1, s->n, held(s))) {
                r->stopped = 1;
                goto out;
            }
        }
        r->depth++;
        begin = end;
        end = s->n;
        if (cb && cb(r->depth, s->n, held(s))) { r->stopped = 1; goto out; }
    }
    r->exhaustive = begin == end;
out:
    r->states = s->n;
    r->bytes = held(s);
    return 1;
}

/* The stored parent of state `idx` (0 for the initial state itself). */
int64_t search_parent(const search_t *s, int64_t idx) {
    return idx > 0 ? s->parent[idx] : 0;
}

void search_state(const search_t *s, int64_t idx, int64_t *v) {
    uint64_t w[NW];
    load(s, idx, w);
    unpack(w, v);
}

/* Every enabled operation on `v`: their indices and successors (NF each). */
int step_all(const int64_t *v, int32_t *ops, int64_t *outs) {
    int n = 0;
    for (int o = 0; o < NOPS; o++)
        if (OPS[o](v, outs + (int64_t)n * NF)) ops[n++] = o;
    return n;
}

/* 1 where property p holds in `v`. */
void props_hold(const int64_t *v, int32_t *out) {
    for (int p = 0; p < NPROPS; p++) out[p] = PROPS[p](v);
}

/* The stored (canonical) form of `v`, keeping the history in `keep`: 0, or
 * 1 + a field out of range. */
int canonical_words(const int64_t *v, uint64_t keep, uint64_t *w) {
    return store_form(v, 1, keep, w);
}

int words_per_state(void) { return NW; }
int nr_ops(void) { return NOPS; }
int nr_fields(void) { return NF; }

/* Batch operations for a search whose visited set is split across processes
 * (checker/engines/distributed.py): each process keeps its part of the
 * visited set in a search_t of its own and exchanges packed states. */

/* Expand `n` packed states: for each successor, its stored form, the index of
 * the state it came from and the operation; returns the number written, or
 * -1 - j when the successor of state j has a field out of range. */
int64_t batch_expand(const uint64_t *in, int64_t n, int reduce, uint64_t keep, uint64_t *out,
                     int64_t *from, uint16_t *ops, int64_t max_out) {
    int64_t v[NF], t[NF], k = 0;
    for (int64_t i = 0; i < n; i++) {
        unpack(in + i * NW, v);
        for (int o = 0; o < NOPS; o++) {
            if (!OPS[o](v, t)) continue;
            if (k == max_out) return -1 - i;
            if (store_form(t, reduce, keep, out + k * NW)) return -1 - i;
            from[k] = i;
            ops[k] = (uint16_t)o;
            k++;
        }
    }
    return k;
}

/* Insert `n` packed states into this part of the visited set; fresh[i] is
 * the new local index of state i, or -1 when it was already there (or
 * earlier in the batch).  Returns 0, or -1 when out of memory. */
int batch_insert(search_t *s, const uint64_t *in, int64_t n, int64_t *fresh) {
    for (int64_t i = 0; i < n; i++) {
        int is_new;
        int64_t j = intern(s, in + i * NW, 0, &is_new);
        if (j < 0) return -1;
        fresh[i] = is_new ? j : -1;
    }
    return 0;
}

/* The `n` packed states from local index `idx` on (NW words each). */
void batch_state(const search_t *s, int64_t idx, int64_t n, uint64_t *out) {
    for (int64_t i = 0; i < n; i++) load(s, idx + i, out + i * NW);
}

/* For each of `n` packed states, a bit per property that it violates. */
void batch_violations(const uint64_t *in, int64_t n, uint64_t *mask) {
    int64_t v[NF];
    for (int64_t i = 0; i < n; i++) {
        unpack(in + i * NW, v);
        uint64_t m = 0;
        for (int p = 0; p < NPROPS && p < 64; p++)
            if (!PROPS[p](v)) m |= 1ULL << p;
        mask[i] = m;
    }
}

/* The stored form of an unpacked state (the initial state of a search). */
int batch_pack(const int64_t *v, int reduce, uint64_t keep, uint64_t *out) {
    return store_form(v, reduce, keep, out);
}

int64_t search_size(const search_t *s) { return s->n; }
int64_t search_bytes(const search_t *s) { return held(s); }

/* The part of the visited set that owns packed state `w`, out of `parts`:
 * a hash of the words alone (the same in every process) mixed apart from
 * hash_words, so that one part's states still spread over its own table. */
static int owner_of(const uint64_t *w, int parts) {
    uint64_t h = 0x6A09E667F3BCC909ULL;
    for (int i = 0; i < NW; i++) {
        h = (h ^ w[i]) * 0x94D049BB133111EBULL;
        h ^= h >> 29;
    }
    return (int)(((h >> 32) * (uint64_t)parts) >> 32);
}

/* Reorder `n` packed states with their origins into one run per owning part
 * (stable within a part): counts[j] states for part j, part 0 first. */
void batch_route(const uint64_t *in, const int64_t *from, const uint16_t *ops, int64_t n,
                 int parts, uint64_t *out, int64_t *out_from, uint16_t *out_ops, int64_t *counts) {
    int64_t start[parts];
    memset(counts, 0, parts * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) counts[owner_of(in + i * NW, parts)]++;
    int64_t at = 0;
    for (int j = 0; j < parts; j++) { start[j] = at; at += counts[j]; }
    for (int64_t i = 0; i < n; i++) {
        int64_t k = start[owner_of(in + i * NW, parts)]++;
        memcpy(out + k * NW, in + i * NW, NW * sizeof(uint64_t));
        out_from[k] = from[i];
        out_ops[k] = ops[i];
    }
}
