/* bench.h: tern-bench, a standalone XMPP load generator (no libtern).
 *
 * One libev loop drives every client connection. A connection does the
 * full login (TCP, stream, STARTTLS, SASL, restart, bind, presence, ping)
 * through a state machine in bconn.c and then hands top-level stanzas to
 * the scenario that owns it (tern-bench.c). The XML is read by a small
 * tag scanner (bxml.c) that is enough for what servers send; statistics,
 * /proc readings and output are in bstat.c. */
#ifndef TERN_BENCH_H
#define TERN_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#define ARRAYLEN(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal and its length, for bc_send(c, LIT("...")). */
#define LIT(s) (s), (sizeof(s) - 1)

/* ---- growable byte buffer ---- */
struct bbuf {
	char *p;
	size_t off; /* consumed prefix */
	size_t len; /* end of data */
	size_t cap;
};

void bb_reserve(struct bbuf *b, size_t extra);
void bb_append(struct bbuf *b, const void *p, size_t n);
void bb_printf(struct bbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bb_compact(struct bbuf *b);
void bb_free(struct bbuf *b);
void *bx_malloc(size_t n);
void *bx_calloc(size_t n, size_t sz);
void *bx_realloc(void *p, size_t n);
char *bx_strdup(const char *s);

/* ---- XML tag scanner ---- */
enum bx_kind {
	BX_TEXT,
	BX_START,
	BX_EMPTY,
	BX_END,
	BX_OTHER, /* <?..?>, <!--..-->, <![CDATA[..]]>, <!DOCTYPE> */
};

struct bx_tok {
	enum bx_kind kind;
	size_t start, end; /* [start, end) in the scanned range */
	size_t name, namelen; /* qualified name inside the tag */
};

/* Lex one token at pos of p[0..n). 1: got one; 0: incomplete; -1: bad. */
int bx_lex(const char *p, size_t n, size_t pos, struct bx_tok *t);
/* Does the qualified name at p[0..len) have local name ln? */
int bx_local_is(const char *p, size_t len, const char *ln);
/* Local name of the top element of e[0..n) equals ln. */
int bx_is(const char *e, size_t n, const char *ln);
/* Attribute a of the top element, unescaped into out. 0 found, -1 not. */
int bx_attr(const char *e, size_t n, const char *a, char *out,
    size_t outsz);
/* First descendant element with local name ln: its range. 0 / -1. */
int bx_find(const char *e, size_t n, const char *ln, const char **sub,
    size_t *subn);
/* Text before the first child of the top element, unescaped. */
int bx_text(const char *e, size_t n, char *out, size_t outsz);
/* Escape s for XML text and attributes. */
void bx_escape(struct bbuf *b, const char *s);

/* ---- SASL client ---- */
enum bs_mech { MECH_SCRAM_SHA1, MECH_SCRAM_SHA256, MECH_PLAIN };
extern const char *const bs_mech_names[];

struct scram {
	enum bs_mech mech;
	char cnonce[33];
	char *first_bare; /* n=user,r=cnonce */
	unsigned char server_sig[64];
	unsigned server_sig_len;
};

/* Initial response (base64) for user/password, into out. */
int bs_sasl_start(struct scram *s, enum bs_mech mech, const char *user,
    const char *password, struct bbuf *out);
/* Answer a base64 challenge. -1 with a reason in err on bad input. */
int bs_sasl_step(struct scram *s, const char *password, const char *chal64,
    struct bbuf *out, const char **err);
/* Check the base64 additional data of <success/>. */
int bs_sasl_verify(struct scram *s, const char *data64);
void bs_sasl_cleanup(struct scram *s);
/* XEP-0484 FAST: the token the server gave user (NULL: none yet), and
 * the HT-SHA-256-NONE initial response (base64) that proves it. */
const char *bs_fast_token(unsigned user);
void bs_fast_set_token(unsigned user, const char *token);
void bs_fast_initial(const char *user, const char *token, struct bbuf *out);
/* Entries in the salted-password cache and PBKDF2 runs done. */
extern unsigned long bs_pbkdf2_runs;

/* ---- connections ---- */
enum bc_state {
	BC_CONNECTING,
	BC_FEATURES, /* stream sent, waiting for header + features */
	BC_STARTTLS, /* waiting for <proceed/> */
	BC_AUTH, /* <auth/> sent */
	BC_BIND,
	BC_SESSION,
	BC_SM,
	BC_CARBONS,
	BC_PREFS,
	BC_PING, /* presence and ping sent */
	BC_READY,
	BC_CLOSING, /* </stream:stream> sent */
	BC_DEAD,
};

struct bconn;

/* What a scenario hooks onto a connection. */
struct bc_ops {
	void (*ready)(struct bconn *c); /* login complete */
	void (*stanza)(struct bconn *c, const char *e, size_t n);
	/* Closed (err: NULL on a clean close, else why). Not freed yet. */
	void (*closed)(struct bconn *c, const char *err);
};

struct bconn {
	unsigned id;
	int fd;
	SSL *ssl;
	int want_write; /* the last write could not complete */
	int io_events; /* what io watches now */
	const char *pending_err; /* failure to report from the timer */
	int need_session; /* RFC 3921 session not optional */
	int feat_sm; /* XEP-0198 offered */
	ev_io io;
	ev_timer timer;
	enum bc_state state;
	struct bbuf in, out;
	size_t scan; /* scanner position in in.p */
	size_t elem; /* start of the current top-level element */
	int depth;
	int tls_done, auth_done, got_header;
	int sasl2; /* authenticating with XEP-0388 (bo.fast) */
	int dirty; /* on the flush list */
	struct bconn *next_dirty, *next_dead;
	unsigned user; /* user number (1-based) */
	char resource[32];
	char jid[256]; /* full JID after bind */
	struct scram scram;
	double t_start, t_ready; /* monotonic seconds */
	double t_step[12]; /* when each login step began (for -vv) */
	unsigned char st_step[12];
	int nsteps;
	/* XEP-0198 */
	int sm;
	uint32_t sm_in, sm_out, sm_acked;
	/* WebSocket (--ws): 1 while the upgrade is answered, then 2; the
	 * frames read are unwrapped from ws_in into in */
	int ws;
	struct bbuf ws_in;
	const struct bc_ops *ops;
	void *ctx; /* scenario data */
	int role;
};

struct bopts {
	const char *host, *port, *domain;
	int direct_tls, no_tls, allow_remote;
	enum bs_mech mech;
	const char *prefix, *password;
	int provision;
	const char *ternctl, *config, *provision_cmd;
	const char *ws_path; /* XMPP over WebSocket (RFC 7395) at this path */
	const char *upload_domain;
	long long size; /* upload: bytes per file */
	uint32_t src_lo, src_hi; /* host order; 0: none */
	pid_t pids[16];
	int npids;
	int conc, total, keep, pairs, window, users, contacts;
	int warmup; /* idle: sessions before the baseline (-1: C) */
	double hold, duration, rate, timeout, op_timeout;
	int sm, carbons, second_resource, mam, no_prime, queries;
	/* mam: the XEP-0313 preferences' default the client sets (always,
	 * never, roster); NULL with mam == 0: none set */
	const char *mam_default;
	int fast; /* log in with SASL2 + Bind 2, then with FAST tokens */
	int rooms, occupants;
	const char *muc; /* group chat service domain */
	int verbose;
};

extern struct bopts bo;
extern struct ev_loop *bloop;

void bc_global_init(void);
/* "PREFIX: condition" of an error stanza or element e (a static buffer). */
const char *bc_condition(const char *prefix, const char *e, size_t n);
/* Start the login of user number `user` with `resource`. */
struct bconn *bc_login(unsigned user, const char *resource,
    const struct bc_ops *ops, void *ctx, int role);
/* Queue bytes (flushed before the loop sleeps). A stanza counts for SM. */
void bc_send(struct bconn *c, const char *s, size_t n);
void bc_send_stanza(struct bconn *c, const char *s, size_t n);
void bc_sendf(struct bconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Send </stream:stream> and wait for the server to close (bounded). */
void bc_end(struct bconn *c, double timeout);
/* Close now; ops->closed is called with err. */
void bc_close(struct bconn *c, const char *err);
void bc_reply_iq(struct bconn *c, const char *e, size_t n);
double bc_now(void);
uint64_t bc_now_ns(void);
/* Bare JID of user number u, into out. */
void bc_bare(unsigned u, char *out, size_t outsz);
/* User number from a JID "prefixN@domain/...": 0 if not ours. */
unsigned bc_user_of(const char *jid);
extern unsigned long bc_live, bc_opened;

/* ---- statistics, /proc, output ---- */
struct bsamples {
	double *v;
	size_t n, cap;
};

void bs_add(struct bsamples *s, double v);
void bs_reset(struct bsamples *s);
/* Nearest-rank percentile (sorts lazily). 0 when empty. */
double bs_pct(struct bsamples *s, double p);

struct bproc {
	double cpu_s; /* utime+stime of all --pid */
	long rss_kb; /* VmRSS summed */
	int ok;
};

void bs_proc_read(struct bproc *p);
double bs_self_cpu(void);

/* Result: a table on stdout and one JSON line. */
struct bresult {
	char json[4096];
	size_t jlen;
};

void br_begin(struct bresult *r, const char *scenario);
void br_num(struct bresult *r, const char *key, const char *label,
    double v, int prec);
void br_str(struct bresult *r, const char *key, const char *label,
    const char *v);
void br_end(struct bresult *r);

int bs_provision(unsigned from, unsigned to);

/* ---- a blocking HTTP/1.1 client (the upload scenario) ---- */
struct bhttp;
/* Keep-alive connection to bo.host at the port of url (http or https). */
struct bhttp *bh_open(const char *url, const char **err);
/* PUT n bytes of body (or GET when body is NULL: the body read is
 * counted into *got), with the header lines hdrs ("Name: value\r\n"
 * each, or NULL). The status, or -1 with err set. */
int bh_request(struct bhttp *h, const char *url, const char *hdrs,
    const char *body, size_t n, size_t *got, const char **err);
void bh_close(struct bhttp *h);

#endif
