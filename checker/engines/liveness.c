/* The native starvation search: the fixed half (checker/engines/liveness.py
 * generates the other half for one spec and appends this file after
 * search.c's module: OPS[], pack(), unpack(), forget() are the safety
 * search's; NCH, NCTX, NWAIT, KORDER, FREE_SLOT, LABELS[], OP_SIZE[],
 * OP_CTX[], OP_GROUP[], OP_CHUNK[], OP_LIST[], NGROUPS, waiting_mask() and
 * order_facts() are the liveness half's).
 *
 * A node is a kernel state (history dropped, dead locals forgotten, as
 * model/reduction.py's canonical()) packed into NB bytes, followed with
 * KORDER by the order of the kernel's lists (NCH bytes of ranks, NCH of
 * map-extension ranks: checker/engines/list_order.py's Order, as ranks).
 * Nodes are stored once, in breadth-first order (the array is the queue),
 * with their parent and the operation from it: the prefix of a lasso.
 * Only the steps a starvation loop may take are kept as edges (a request of
 * the size that succeeds, or a GFP_KERNEL allocation that fails, may end
 * the prefix but not sit in the loop: checker/engines/fairness.py), in CSR
 * form: target node, operation, label (bit 0: a request of the size
 * fails; bit 1: a balance run ends).  The strongly connected components
 * are Tarjan's, iteratively; each is tested as it is found, and the first
 * fair one gives the lasso: a shortest prefix to its shallowest node, and a
 * loop through a failing request, a completed run and, for each thing a
 * fair scheduler must run, a node where it does not wait or a step of it. */

#define RB (NB + (KORDER ? 2 * NCH : 0)) /* bytes a node */
#define NONE_RANK 255

typedef struct {
    uint8_t *rec;             /* RB bytes a node */
    uint32_t *parent;
    uint16_t *pop;            /* the operation from the parent */
    int64_t n, cap;
    uint32_t *table;
    uint64_t tsize;
    int64_t *eoff;            /* n + 1: node i's edges are eoff[i] .. eoff[i + 1] - 1 */
    uint32_t *etgt;
    uint16_t *eop;
    uint8_t *elab;
    int64_t ne, ecap;
    int64_t transitions;
    int64_t saturated;        /* successors stored with the counter saturated */
    int64_t peak;             /* bytes held at most */
    /* the lasso: the loop's edges, from node `entry` back to it */
    int64_t entry;
    uint32_t *loop;
    int64_t nloop;
    int64_t comps;            /* components tested */
} live_t;

static int64_t live_held(const live_t *s) {
    return s->cap * (RB + 4 + 2 + 8) + (int64_t)s->tsize * 4 + s->ecap * 7;
}

static void note_peak(live_t *s, int64_t extra) {
    int64_t h = live_held(s) + extra;
    if (h > s->peak) s->peak = h;
}

static uint64_t hash_bytes(const uint8_t *b) {
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < RB; i += 8) {
        uint64_t w = 0;
        memcpy(&w, b + i, RB - i < 8 ? RB - i : 8);
        h ^= w;
        h *= 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    return h;
}

static int live_grow_table(live_t *s) {
    uint64_t size = s->tsize + s->tsize / 4;
    free(s->table);
    s->table = calloc(size, sizeof(uint32_t));
    if (!s->table) return 0;
    s->tsize = size;
    for (int64_t i = 0; i < s->n; i++) {
        uint64_t h = slot_of(hash_bytes(s->rec + i * RB), size);
        while (s->table[h]) h = h + 1 == size ? 0 : h + 1;
        s->table[h] = (uint32_t)(i + 1);
    }
    return 1;
}

static int live_grow_nodes(live_t *s) {
    int64_t cap = s->cap + s->cap / 2;
    uint8_t *r = realloc(s->rec, cap * RB);
    if (!r) return 0;
    s->rec = r;
    uint32_t *pa = realloc(s->parent, cap * sizeof(uint32_t));
    if (!pa) return 0;
    s->parent = pa;
    uint16_t *po = realloc(s->pop, cap * sizeof(uint16_t));
    if (!po) return 0;
    s->pop = po;
    int64_t *eo = realloc(s->eoff, (cap + 1) * sizeof(int64_t));
    if (!eo) return 0;
    s->eoff = eo;
    s->cap = cap;
    return 1;
}

/* Index of node `b`, inserted if new (*fresh = 1); -1 on no memory. */
static int64_t live_intern(live_t *s, const uint8_t *b, uint32_t parent, uint16_t op,
                           int *fresh) {
    if ((uint64_t)s->n * 4 >= s->tsize * 3 && !live_grow_table(s)) return -1;
    uint64_t h = slot_of(hash_bytes(b), s->tsize);
    for (;;) {
        uint32_t e = s->table[h];
        if (!e) break;
        if (!memcmp(s->rec + (int64_t)(e - 1) * RB, b, RB)) {
            *fresh = 0;
            return e - 1;
        }
        h = h + 1 == s->tsize ? 0 : h + 1;
    }
    if (s->n == s->cap && !live_grow_nodes(s)) return -1;
    memcpy(s->rec + s->n * RB, b, RB);
    s->parent[s->n] = parent;
    s->pop[s->n] = op;
    s->table[h] = (uint32_t)(s->n + 1);
    *fresh = 1;
    note_peak(s, 0);
    return s->n++;
}

static int add_edge(live_t *s, uint32_t tgt, uint16_t op, uint8_t lab) {
    if (s->ne == s->ecap) {
        int64_t cap = s->ecap + s->ecap / 2;
        uint32_t *t = realloc(s->etgt, cap * sizeof(uint32_t));
        if (!t) return 0;
        s->etgt = t;
        uint16_t *o = realloc(s->eop, cap * sizeof(uint16_t));
        if (!o) return 0;
        s->eop = o;
        uint8_t *l = realloc(s->elab, cap);
        if (!l) return 0;
        s->elab = l;
        s->ecap = cap;
        note_peak(s, 0);
    }
    s->etgt[s->ne] = tgt;
    s->eop[s->ne] = op;
    s->elab[s->ne] = lab;
    s->ne++;
    return 1;
}

live_t *live_new(void) {
    live_t *s = calloc(1, sizeof(live_t));
    if (!s) return NULL;
    s->cap = 1 << 16;
    s->rec = malloc(s->cap * RB);
    s->parent = malloc(s->cap * sizeof(uint32_t));
    s->pop = malloc(s->cap * sizeof(uint16_t));
    s->eoff = malloc((s->cap + 1) * sizeof(int64_t));
    s->tsize = 1 << 17;
    s->table = calloc(s->tsize, sizeof(uint32_t));
    s->ecap = 1 << 18;
    s->etgt = malloc(s->ecap * sizeof(uint32_t));
    s->eop = malloc(s->ecap * sizeof(uint16_t));
    s->elab = malloc(s->ecap);
    if (!s->rec || !s->parent || !s->pop || !s->eoff || !s->table || !s->etgt || !s->eop ||
        !s->elab)
        return NULL;
    s->entry = -1;
    return s;
}

void live_free(live_t *s) {
    if (!s) return;
    free(s->rec); free(s->parent); free(s->pop); free(s->eoff); free(s->table);
    free(s->etgt); free(s->eop); free(s->elab); free(s->loop); free(s);
}

/* --- the kernel's list order (list_order.py, KernelOrder, as ranks) ------
 * One sequence of the chunks on pcpu_slot[] lists and on to_free: each
 * pcpu_slot[] list is the sequence's chunks of its slot in sequence order,
 * and to_free those on it in reverse order.  list_move() to a list's head
 * is a move to the sequence's front, list_move_tail() to its back; neither
 * changes the order of the other chunks in any list.  The node holds each
 * chunk's position (NONE_RANK when on no list) in the one sequence of each
 * order of the lists (the lists slot by slot, then to_free), so nodes are
 * as many as list_order.py's (state, Order) pairs, and each chunk's
 * position in pcpu_map_extend_chunks. */

enum { F_LISTED, F_SLOT, F_TO_FREE, F_EXT, F_LINKED, NFACT };

#if KORDER
static int by_rank(const uint8_t *rank, int *seq) {
    int k = 0;
    for (int r = 0; r < NCH; r++)
        for (int c = 0; c < NCH; c++)
            if (rank[c] == r) seq[k++] = c;
    return k;
}

static int seq_remove(int *seq, int k, int c) {
    int j = 0;
    for (int i = 0; i < k; i++)
        if (seq[i] != c) seq[j++] = seq[i];
    return j;
}

static int seq_front(int *seq, int k, int c) {
    k = seq_remove(seq, k, c);
    memmove(seq + 1, seq, k * sizeof(int));
    seq[0] = c;
    return k + 1;
}

static int seq_back(int *seq, int k, int c) {
    k = seq_remove(seq, k, c);
    seq[k] = c;
    return k + 1;
}

/* The order after the step from facts `f` (order `o`) to facts `g`. */
static void order_advance(const int32_t *f, const int32_t *g, const uint8_t *o, uint8_t *out) {
#define F(x, c, k) (x)[(c) * NFACT + (k)]
    int seq[NCH], k = by_rank(o, seq);
    int created[NCH];
    for (int c = 0; c < NCH; c++) created[c] = F(g, c, F_LISTED) && !F(f, c, F_LINKED);
    /* pcpu_chunk_relocate(chunk, -1): a created chunk at the free slot's head */
    for (int c = 0; c < NCH; c++)
        if (created[c]) k = seq_front(seq, k, c);
    /* the collect: list_move() of the free list's chunks to to_free's head,
     * in the free list's order */
    int moved[NCH], nm = 0;
    for (int i = 0; i < k; i++) {
        int c = seq[i];
        if (!created[c] && F(f, c, F_LISTED) && F(f, c, F_SLOT) == FREE_SLOT &&
            !F(g, c, F_LISTED))
            moved[nm++] = c;
    }
    for (int i = 0; i < nm; i++) k = seq_back(seq, k, moved[i]);
    /* off every list: destroyed */
    for (int c = 0; c < NCH; c++)
        if (!F(g, c, F_LISTED) && !F(g, c, F_TO_FREE)) k = seq_remove(seq, k, c);
    /* pcpu_chunk_relocate(): a slot that grows, to the head; one that shrinks, to the tail */
    for (int c = 0; c < NCH; c++) {
        if (!F(g, c, F_LISTED)) continue;
        int before = F(f, c, F_LISTED) && !created[c];
        int old = created[c] ? FREE_SLOT : F(f, c, F_SLOT), now = F(g, c, F_SLOT);
        if (!((created[c] && now != FREE_SLOT) || (before && old != now))) continue;
        k = old < now ? seq_front(seq, k, c) : seq_back(seq, k, c);
    }
    /* one sequence per order of the lists: slot by slot, then to_free */
    int canon[NCH], nk = 0;
    for (int slot = 0; slot <= FREE_SLOT; slot++)
        for (int i = 0; i < k; i++)
            if (F(g, seq[i], F_LISTED) && F(g, seq[i], F_SLOT) == slot) canon[nk++] = seq[i];
    for (int i = 0; i < k; i++)
        if (!F(g, seq[i], F_LISTED)) canon[nk++] = seq[i];
    memset(out, NONE_RANK, 2 * NCH);
    for (int i = 0; i < nk; i++) out[canon[i]] = (uint8_t)i;
    /* pcpu_map_extend_chunks: kept in order, the new ones list_add_tail()ed
     * in the scan's order (slots upwards, each list from its head), those on
     * no list after them by index */
    const uint8_t *oe = o + NCH;
    uint8_t *ne = out + NCH;
    int n = 0;
    for (int r = 0; r < NCH; r++)
        for (int c = 0; c < NCH; c++)
            if (oe[c] == r && F(g, c, F_EXT)) ne[c] = (uint8_t)n++;
    for (int slot = 0; slot <= FREE_SLOT; slot++)
        for (int i = 0; i < k; i++) {
            int c = seq[i];
            if (F(g, c, F_LISTED) && F(g, c, F_SLOT) == slot && F(g, c, F_EXT) &&
                ne[c] == NONE_RANK)
                ne[c] = (uint8_t)n++;
        }
    for (int c = 0; c < NCH; c++)
        if (F(g, c, F_EXT) && ne[c] == NONE_RANK) ne[c] = (uint8_t)n++;
}

/* The position of chunk c in the list operation `op` takes its chunk from
 * (KernelOrder.rank): the kernel takes the least. */
static int order_key(int op, const int32_t *f, const int32_t *g, const uint8_t *o, int c) {
    int list = OP_LIST[op];
    if (list == 2) { /* to_free, head first: the highest in the sequence */
        int pos = 0;
        for (int d = 0; d < NCH; d++)
            if (F(f, d, F_TO_FREE) && o[d] != NONE_RANK && o[d] > o[c]) pos++;
        return pos;
    }
    if (list == 3) return o[NCH + c];
    int created[NCH], nc = 0;
    for (int d = 0; d < NCH; d++) {
        created[d] = list == 1 && F(g, d, F_LISTED) && !F(f, d, F_LINKED);
        nc += created[d];
    }
    if (created[c]) { /* each at the head in turn: the highest index first */
        int pos = 0;
        for (int d = c + 1; d < NCH; d++) pos += created[d];
        return pos;
    }
    if (!F(f, c, F_LISTED) || o[c] == NONE_RANK) return 1 << 20;
    int slot = F(f, c, F_SLOT), pos = slot == FREE_SLOT ? nc : 0;
    for (int d = 0; d < NCH; d++)
        if (!created[d] && F(f, d, F_LISTED) && F(f, d, F_SLOT) == slot && o[d] != NONE_RANK &&
            o[d] < o[c])
            pos++;
    return pos;
#undef F
}
#endif

/* The node of flat state `t` with order `o`. */
static int node_of(const int64_t *t, const uint8_t *o, uint8_t *b) {
    int64_t u[NF];
    uint64_t w[NW];
    memcpy(u, t, sizeof(u));
    forget(u, 0);
    int bad = pack(u, w);
    if (bad) return bad;
    memcpy(b, w, NB);
#if KORDER
    memcpy(b + NB, o, 2 * NCH);
#else
    (void)o;
#endif
    return 0;
}

static void node_state(const live_t *s, int64_t i, int64_t *v) {
    uint64_t w[NW];
    w[NW - 1] = 0;
    memcpy(w, s->rec + i * RB, NB);
    unpack(w, v);
}

/* The breadth-first search of every node from `init` (order `init_order`),
 * keeping the edges a loop starving requests of `size` cells may take.
 * Returns 0 (done), 1 (a field left its range: *bad_field, *bad_value), 2
 * (no memory), 3 (more than `limit` nodes); `cb` may stop it (4). */
int live_explore(live_t *s, const int64_t *init, const uint8_t *init_order, int size,
                 int64_t limit, progress_cb cb, int *bad_field, int64_t *bad_value) {
    int64_t v[NF];
    int64_t *succ = malloc(sizeof(int64_t) * NF * (NOPS > 0 ? NOPS : 1));
    int32_t *en = malloc(sizeof(int32_t) * (NOPS > 0 ? NOPS : 1));
    int32_t best[NGROUPS > 0 ? NGROUPS : 1], bkey[NGROUPS > 0 ? NGROUPS : 1];
    uint8_t b[RB + 8], order[2 * NCH + 1];
    int32_t fv[NCH * 5 + 1], ft[NCH * 5 + 1];
    int fresh, bad, rc = 0;
    if (!succ || !en) { free(succ); free(en); return 2; }
    memcpy(order, init_order, 2 * NCH);
    if ((bad = node_of(init, order, b))) {
        *bad_field = bad - 1; *bad_value = init[bad - 1];
        rc = 1; goto out;
    }
    live_intern(s, b, 0, 0, &fresh);
    s->ne = 0;
    for (int64_t i = 0; i < s->n; i++) {
        s->eoff[i] = s->ne;
        node_state(s, i, v);
        uint8_t o[2 * NCH + 1]; /* a copy: interning may move the nodes */
        memcpy(o, s->rec + i * RB + NB, KORDER ? 2 * NCH : 0);
        /* the saturated counter (search.c): a node at the floor is expanded
         * from every value it stands for */
        int spread = sat_spread(v);
        for (int sj = 0; sj <= spread; sj++) {
        if (spread) sat_set(v, sj);
        int ne = 0;
        for (int op = 0; op < NOPS; op++)
            if (OPS[op](v, succ + (int64_t)ne * NF)) en[ne++] = op;
#if KORDER
        order_facts(v, fv);
        for (int gi = 0; gi < NGROUPS; gi++) best[gi] = -1;
        for (int k = 0; k < ne; k++) {
            int op = en[k], gi = OP_GROUP[op];
            if (gi < 0) continue;
            order_facts(succ + (int64_t)k * NF, ft);
            int key = order_key(op, fv, ft, o, OP_CHUNK[op]);
            if (best[gi] < 0 || key < bkey[gi]) { best[gi] = k; bkey[gi] = key; }
        }
#else
        (void)o; (void)best; (void)bkey; (void)fv;
#endif
        for (int k = 0; k < ne; k++) {
            int op = en[k];
            int64_t *t = succ + (int64_t)k * NF;
#if KORDER
            if (OP_GROUP[op] >= 0 && best[OP_GROUP[op]] != k) continue;
            order_facts(t, ft);
            order_advance(fv, ft, o, order);
#endif
            s->transitions++;
            int lab = LABELS[op](v, t);
            int tried = OP_SIZE[op] == size;
            int fails = tried && (lab & 1), succeeds = tried && !(lab & 1);
            s->saturated += sat_clamp(t);
            if ((bad = node_of(t, order, b))) {
                *bad_field = bad - 1; *bad_value = t[bad - 1];
                rc = 1; goto out;
            }
            int64_t j = live_intern(s, b, (uint32_t)i, (uint16_t)op, &fresh);
            if (j < 0) { rc = 2; goto out; }
            if (fresh && s->n > limit) { rc = 3; goto out; }
            if (succeeds || (lab & 4)) continue; /* not in a starvation loop */
            if (!add_edge(s, (uint32_t)j, (uint16_t)op, (uint8_t)(fails | (lab & 2))))
                { rc = 2; goto out; }
        }
        }
        if (cb && (i & 0xFFFF) == 0xFFFF && cb(0, s->n, live_held(s))) { rc = 4; goto out; }
    }
    s->eoff[s->n] = s->ne;
    if (s->ne >= 0xFFFFFFFFLL) rc = 2;
out:
    free(succ);
    free(en);
    /* the visited set is an index into the nodes: not needed any more */
    free(s->table);
    s->table = NULL;
    s->tsize = 0;
    return rc;
}

/* --- fair strongly connected components ------------------------------- */

typedef struct {
    int64_t fail, end;        /* an inner edge of each kind */
    int64_t need[NWAIT > 0 ? NWAIT : 1]; /* per waiter: node (>= 0) or -2 - edge */
} needs_t;

/* Whether component `c` (members[0..m)) is fair; fills `nd`. */
static int fair(const live_t *s, const uint32_t *comp, uint32_t c, const uint32_t *members,
                int64_t m, needs_t *nd) {
    int64_t v[NF];
    uint64_t calm = 0, moved = 0;
    int64_t calm_at[NWAIT > 0 ? NWAIT : 1], moved_at[NCTX > 0 ? NCTX : 1];
    nd->fail = nd->end = -1;
    for (int w = 0; w < NWAIT; w++) calm_at[w] = -1;
    for (int w = 0; w < NCTX; w++) moved_at[w] = -1;
    for (int64_t k = 0; k < m; k++) {
        uint32_t x = members[k];
        node_state(s, x, v);
        uint64_t wait = waiting_mask(v);
        for (int w = 0; w < NWAIT; w++)
            if (!(wait >> w & 1) && calm_at[w] < 0) { calm_at[w] = x; calm |= 1ULL << w; }
        for (int64_t e = s->eoff[x]; e < s->eoff[x + 1]; e++) {
            if (comp[s->etgt[e]] != c) continue;
            if ((s->elab[e] & 1) && nd->fail < 0) nd->fail = e;
            if ((s->elab[e] & 2) && nd->end < 0) nd->end = e;
            int ctx = OP_CTX[s->eop[e]];
            if (ctx >= 0 && moved_at[ctx] < 0) { moved_at[ctx] = e; moved |= 1ULL << ctx; }
        }
    }
    if (nd->fail < 0 || nd->end < 0) return 0;
    for (int w = 0; w < NWAIT; w++) {
        if (calm >> w & 1) nd->need[w] = calm_at[w];
        else if (w < NCTX && (moved >> w & 1)) nd->need[w] = -2 - moved_at[w];
        else return 0;
    }
    return 1;
}

/* The source node of edge e. */
static uint32_t edge_source(const live_t *s, int64_t e) {
    int64_t lo = 0, hi = s->n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (s->eoff[mid] <= e) lo = mid; else hi = mid - 1;
    }
    return (uint32_t)lo;
}

/* Append to the loop a shortest path inside component c from `src` to
 * `dst`, by breadth-first search; `prev` and `queue` are scratch (n each,
 * prev all UINT32_MAX on entry and again on return). */
static int path(live_t *s, const uint32_t *comp, uint32_t c, uint32_t src, uint32_t dst,
                uint32_t *prev, uint32_t *queue) {
    if (src == dst) return 1;
    int64_t head = 0, tail = 0;
    queue[tail++] = src;
    prev[src] = 0xFFFFFFFEu;
    while (head < tail && prev[dst] == 0xFFFFFFFFu) {
        uint32_t x = queue[head++];
        for (int64_t e = s->eoff[x]; e < s->eoff[x + 1]; e++) {
            uint32_t y = s->etgt[e];
            if (comp[y] == c && prev[y] == 0xFFFFFFFFu) {
                prev[y] = (uint32_t)e;
                queue[tail++] = y;
            }
        }
    }
    int64_t len = 0;
    for (uint32_t y = dst; y != src; y = edge_source(s, prev[y])) len++;
    uint32_t *l = realloc(s->loop, (s->nloop + len) * sizeof(uint32_t));
    if (!l) return 0;
    s->loop = l;
    int64_t k = s->nloop + len;
    for (uint32_t y = dst; y != src; y = edge_source(s, prev[y])) s->loop[--k] = prev[y];
    s->nloop += len;
    for (int64_t q = 0; q < tail; q++) prev[queue[q]] = 0xFFFFFFFFu;
    return 1;
}

static int take_edge(live_t *s, int64_t e) {
    uint32_t *l = realloc(s->loop, (s->nloop + 1) * sizeof(uint32_t));
    if (!l) return 0;
    s->loop = l;
    s->loop[s->nloop++] = (uint32_t)e;
    return 1;
}

/* The lasso through component c's needs: from its shallowest node (the
 * least index: breadth-first order) through each and back. */
static int build_loop(live_t *s, uint32_t *comp, uint32_t c, const uint32_t *members, int64_t m,
                      const needs_t *nd, uint32_t *prev, uint32_t *queue) {
    uint32_t u = members[0];
    for (int64_t k = 1; k < m; k++)
        if (members[k] < u) u = members[k];
    for (int64_t i = 0; i < s->n; i++) prev[i] = 0xFFFFFFFFu;
    s->entry = u;
    s->nloop = 0;
    uint32_t at = u;
    int64_t steps[2 + (NWAIT > 0 ? NWAIT : 1)];
    int ns = 0;
    steps[ns++] = -2 - nd->fail;
    steps[ns++] = -2 - nd->end;
    for (int w = 0; w < NWAIT; w++) steps[ns++] = nd->need[w];
    for (int k = 0; k < ns; k++) {
        if (steps[k] >= 0) {
            if (!path(s, comp, c, at, (uint32_t)steps[k], prev, queue)) return 0;
            at = (uint32_t)steps[k];
        } else {
            int64_t e = -2 - steps[k];
            uint32_t from = edge_source(s, e);
            if (!path(s, comp, c, at, from, prev, queue) || !take_edge(s, e)) return 0;
            at = s->etgt[e];
        }
    }
    return path(s, comp, c, at, u, prev, queue);
}

/* Tarjan's components over the kept edges, iteratively; stops at the first
 * fair one and builds its loop.  Returns 1 (a lasso: entry, loop), 0 (no
 * fair component), -1 (no memory). */
int live_sccs(live_t *s) {
    int64_t n = s->n;
    uint32_t *index = malloc(n * sizeof(uint32_t)); /* 0: not visited; else 1 + preorder */
    uint32_t *low = malloc(n * sizeof(uint32_t));
    uint32_t *comp = malloc(n * sizeof(uint32_t));  /* UINT32_MAX: on the stack or unvisited */
    uint32_t *stack = malloc(n * sizeof(uint32_t));
    uint32_t *call = malloc(n * sizeof(uint32_t));  /* the DFS path */
    int64_t *epos = malloc(n * sizeof(int64_t));    /* per node on the path: its next edge */
    int rc = 0;
    if (!index || !low || !comp || !stack || !call || !epos) { rc = -1; goto out; }
    note_peak(s, n * (4 * 5 + 8));
    memset(index, 0, n * sizeof(uint32_t));
    memset(comp, 0xFF, n * sizeof(uint32_t));
    uint32_t counter = 0, ncomp = 0;
    int64_t sp = 0;
    for (int64_t root = 0; root < n; root++) {
        if (index[root]) continue;
        int64_t cp = 0;
        call[cp++] = (uint32_t)root;
        index[root] = low[root] = ++counter;
        stack[sp++] = (uint32_t)root;
        epos[root] = s->eoff[root];
        while (cp > 0) {
            uint32_t x = call[cp - 1];
            if (epos[x] < s->eoff[x + 1]) {
                uint32_t y = s->etgt[epos[x]++];
                if (!index[y]) {
                    index[y] = low[y] = ++counter;
                    stack[sp++] = y;
                    epos[y] = s->eoff[y];
                    call[cp++] = y;
                } else if (comp[y] == 0xFFFFFFFFu && index[y] < low[x]) {
                    low[x] = index[y];
                }
                continue;
            }
            cp--;
            if (cp > 0 && low[x] < low[call[cp - 1]]) low[call[cp - 1]] = low[x];
            if (low[x] != index[x]) continue;
            int64_t start = sp;
            do { start--; comp[stack[start]] = ncomp; } while (stack[start] != x);
            int64_t m = sp - start;
            s->comps++;
            needs_t nd;
            if (fair(s, comp, ncomp, stack + start, m, &nd)) {
                /* index and low are free now: scratch for the paths */
                rc = build_loop(s, comp, ncomp, stack + start, m, &nd, index, low) ? 1 : -1;
                goto out;
            }
            sp = start;
            ncomp++;
        }
    }
out:
    free(index); free(low); free(comp); free(stack); free(call); free(epos);
    return rc;
}

int64_t live_size(const live_t *s) { return s->n; }
int64_t live_edges(const live_t *s) { return s->ne; }
int64_t live_transitions(const live_t *s) { return s->transitions; }
int64_t live_saturated(const live_t *s) { return s->saturated; }
int64_t live_peak(const live_t *s) { return s->peak; }
int64_t live_comps(const live_t *s) { return s->comps; }
int64_t live_entry(const live_t *s) { return s->entry; }
int64_t live_loop_len(const live_t *s) { return s->nloop; }

/* The loop's edges: operation and target node of each. */
void live_loop(const live_t *s, int32_t *ops, int64_t *targets) {
    for (int64_t k = 0; k < s->nloop; k++) {
        ops[k] = s->eop[s->loop[k]];
        targets[k] = s->etgt[s->loop[k]];
    }
}

int64_t live_parent(const live_t *s, int64_t i) { return i > 0 ? s->parent[i] : -1; }
int live_parent_op(const live_t *s, int64_t i) { return s->pop[i]; }

/* Node i: its flat state and (with KORDER) its order bytes. */
void live_node(const live_t *s, int64_t i, int64_t *v, uint8_t *order) {
    node_state(s, i, v);
#if KORDER
    memcpy(order, s->rec + i * RB + NB, 2 * NCH);
#else
    (void)order;
#endif
}
