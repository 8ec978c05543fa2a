/* SPDX-License-Identifier: MIT
 *
 * DNS wire format: zero-copy message views, name handling, rdata
 * decompression, and the answer writer.
 *
 * Names inside vigil are kept uncompressed in wire form ("\3www\7example\0"),
 * at most VG_NAME_MAX bytes.  Parsed messages are views: offsets into the
 * caller's buffer, which must outlive the view.  Every read is bounds-checked;
 * malformed input yields VG_EMALFORMED, never a crash.
 */
#ifndef VIGIL_WIRE_H
#define VIGIL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_NAME_MAX 255
#define VG_MSG_MAXRR 512  /* RRs kept in a full parse; more is malformed for us */
#define VG_HDR_LEN 12

/* RR types and classes used by name */
enum {
	VG_T_A = 1, VG_T_NS = 2, VG_T_MD = 3, VG_T_MF = 4, VG_T_CNAME = 5, VG_T_SOA = 6,
	VG_T_MB = 7, VG_T_MG = 8, VG_T_MR = 9, VG_T_PTR = 12, VG_T_MINFO = 14, VG_T_MX = 15,
	VG_T_TXT = 16, VG_T_RP = 17, VG_T_AFSDB = 18, VG_T_RT = 21, VG_T_AAAA = 28,
	VG_T_PX = 26, VG_T_SRV = 33, VG_T_KX = 36, VG_T_DNAME = 39, VG_T_OPT = 41,
	VG_T_DS = 43, VG_T_RRSIG = 46, VG_T_NSEC = 47, VG_T_DNSKEY = 48,
	VG_T_NSEC3 = 50, VG_T_SVCB = 64, VG_T_IXFR = 251, VG_T_AXFR = 252, VG_T_MAILB = 253,
	VG_T_MAILA = 254, VG_T_ANY = 255,
};
enum { VG_C_IN = 1, VG_C_CH = 3, VG_C_HS = 4, VG_C_NONE = 254, VG_C_ANY = 255 };
enum {
	VG_RCODE_NOERROR = 0, VG_RCODE_FORMERR = 1, VG_RCODE_SERVFAIL = 2,
	VG_RCODE_NXDOMAIN = 3, VG_RCODE_NOTIMP = 4, VG_RCODE_REFUSED = 5,
	VG_RCODE_BADVERS = 16, VG_RCODE_BADCOOKIE = 23,
};
enum { VG_OPCODE_QUERY = 0, VG_OPCODE_NOTIFY = 4 };

/* header flag bits (the 16-bit flags word) */
#define VG_F_QR 0x8000
#define VG_F_AA 0x0400
#define VG_F_TC 0x0200
#define VG_F_RD 0x0100
#define VG_F_RA 0x0080
#define VG_F_AD 0x0020
#define VG_F_CD 0x0010
#define VG_F_OPCODE(f) (((f) >> 11) & 0xf)
#define VG_F_RCODE(f) ((f)&0xf)

static inline uint16_t vg_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t vg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void vg_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void vg_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------- names */

/**
 * Read the (possibly compressed) name at @p off in message @p pkt of @p len
 * bytes into @p out (VG_NAME_MAX bytes), lower-cased when @p lower.
 * Compression pointers must point strictly backwards (no loops).
 * @p *next receives the offset just past the name in the message.
 * Returns the uncompressed length, or VG_EMALFORMED.
 */
int vg_name_unpack(const uint8_t *pkt, size_t len, size_t off, uint8_t *out, bool lower,
		   size_t *next);

/**
 * Skip over a name at @p off; returns the next offset or VG_EMALFORMED.  The
 * whole name is checked, pointers followed, by the same walk as
 * vg_name_unpack (one loop for both).
 */
int vg_name_skip(const uint8_t *pkt, size_t len, size_t off);

/** Length of an uncompressed, already validated name. */
size_t vg_name_len(const uint8_t *name);
/** Number of labels (root has 0). */
int vg_name_labels(const uint8_t *name);
/** Case-insensitive equality of two uncompressed names. */
bool vg_name_eq(const uint8_t *a, const uint8_t *b);
/** Is @p name equal to or below @p zone (case-insensitive)? */
bool vg_name_is_sub(const uint8_t *name, const uint8_t *zone);
/** Pointer to the suffix of @p name with @p labels labels. */
const uint8_t *vg_name_suffix(const uint8_t *name, int labels);
/** Lower-case an uncompressed name in place. */
void vg_name_lower(uint8_t *name);
/** Presentation form ("www.example.") into @p buf; always terminated. */
void vg_name_to_str(const uint8_t *name, char *buf, size_t size);
/**
 * Parse presentation form ("www.Example.com", trailing dot optional, "." is the
 * root, \. and \DDD escapes) into lower-case wire form.  Returns the length,
 * VG_EPARSE (syntax, empty label), VG_ELIMIT (label > 63 or name > 255 bytes)
 * or VG_ENOSPACE (@p outlen too small).
 */
int vg_name_from_str(const char *s, uint8_t *out, size_t outlen);
/** Validate an uncompressed name within @p max bytes; length or VG_EMALFORMED. */
int vg_name_check(const uint8_t *name, size_t max);

/* ---------------------------------------------------------------- messages */

enum vg_section { VG_SEC_AN = 0, VG_SEC_NS = 1, VG_SEC_AR = 2 };

/** One resource record in a parsed message: offsets into the packet. */
struct vg_rr {
	uint16_t owner;  /* offset of the (maybe compressed) owner name */
	uint16_t type, rclass;
	uint32_t ttl;
	uint16_t rdata, rdlen; /* offset and length of raw rdata */
};

/** Facts from the OPT record. */
struct vg_edns {
	bool present;
	bool do_bit;
	uint8_t version;
	uint8_t ext_rcode;
	uint16_t udp_size;
	uint16_t optoff, optlen; /* options area */
};

/** A message parsed as a view of its buffer. */
struct vg_msg {
	const uint8_t *pkt;
	size_t len;
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
	uint8_t qname[VG_NAME_MAX]; /* lower-cased copy of the question name */
	uint16_t qname_off, qname_len;
	uint16_t qtype, qclass;
	struct vg_edns edns;
	uint16_t nrr;              /* RRs in rr[], OPT excluded */
	uint16_t sec_start[4];     /* index into rr[] where each section starts; [3] = nrr */
	struct vg_rr rr[VG_MSG_MAXRR];
	bool owners_hashed;        /* owner_hash[] filled (vg_msg_hash_owners) */
	uint32_t owner_hash[VG_MSG_MAXRR]; /* vg_name_hash() of each RR's owner */
};

/** Light view of a client query: header, question and EDNS only. */
struct vg_query {
	const uint8_t *pkt;
	size_t len;
	uint16_t id, flags;
	uint16_t qdcount;
	uint8_t qname[VG_NAME_MAX]; /* lower-cased */
	uint16_t qname_len;
	uint16_t qtype, qclass;
	struct vg_edns edns;
};

/**
 * Parse a client query.  Returns 0, or VG_EMALFORMED when even the header is
 * unusable (drop).  Other problems are reported through @p rcode_out
 * (FORMERR, NOTIMP, BADVERS...) with the header fields still filled so an
 * error answer can be built; *rcode_out is 0 for a well-formed query.
 */
int vg_query_parse(struct vg_query *q, const uint8_t *pkt, size_t len, int *rcode_out);

/** Fully parse a message (response from upstream). 0 or VG_EMALFORMED. */
int vg_msg_parse(struct vg_msg *m, const uint8_t *pkt, size_t len);

/**
 * A keyed hash (random key per process) of a name, case-insensitive: equal
 * names hash equal, and a remote party cannot choose names that collide.
 */
uint32_t vg_name_hash(const uint8_t *name);
/** A keyed hash (SipHash, a random key per process) of @p len bytes: for
 * hash tables whose keys a remote server chooses. */
uint32_t vg_bytes_hash(const void *p, size_t len);

/**
 * Decompress each RR's owner once and keep its vg_name_hash() in
 * m->owner_hash[], so that a search for the records of one owner compares
 * hashes and decompresses only the records that match: a hostile answer of
 * hundreds of records whose owners are long chains of compression pointers
 * would otherwise be decompressed again for every RRset gathered from it.
 */
void vg_msg_hash_owners(struct vg_msg *m);

/**
 * Where the name at offset @p off of @p m's packet really starts: the target
 * of its compression pointer when it is one, else @p off.  Two names of one
 * packet that start at the same place are the same name.
 */
size_t vg_msg_name_start(const struct vg_msg *m, size_t off);

/**
 * Copy the rdata of @p rr into @p out (capacity @p cap) with every embedded
 * domain name decompressed (RFC 3597 well-known types and the later types
 * whose names may have been compressed).  Returns the new rdata length or
 * VG_EMALFORMED / VG_ENOSPACE.
 */
int vg_rdata_unpack(const uint8_t *pkt, size_t len, const struct vg_rr *rr, uint8_t *out,
		    size_t cap);

/** For CNAME/DNAME/NS/PTR rdata (uncompressed): the target name, or NULL. */
const uint8_t *vg_rdata_target(uint16_t type, const uint8_t *rdata, uint16_t rdlen);

/* ---------------------------------------------------------------- rrsets */

/**
 * An RRset in vigil's packed form: owner (uncompressed wire), then @p count
 * records stored back to back as [u16 rdlen][rdata] in @p rdata.
 * Both the cache and requests use this form; all pointers are borrowed.
 */
struct vg_rrset {
	const uint8_t *owner;
	uint16_t type, rclass;
	uint32_t ttl;
	uint16_t count;
	uint16_t rdata_len;   /* bytes in rdata (including the u16 length prefixes) */
	const uint8_t *rdata;
};

/* ---------------------------------------------------------------- writer */

#define VG_PKT_COMP 64 /* names remembered for compression */

struct vg_pkt {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint16_t counts[4]; /* qd, an, ns, ar */
	int section;        /* 0 = question, 1 an, 2 ns, 3 ar */
	unsigned ncomp;
	uint16_t comp[VG_PKT_COMP]; /* offsets of names written, for compression */
	const uint8_t *qname_lc;    /* the question's name lower-cased, when copied from a
				     * parsed query: written at offset 12 (comp[0]) */
	size_t qname_lc_len;
};

/** Start a message in @p buf (capacity @p cap, at most 65535 used). */
void vg_pkt_init(struct vg_pkt *p, uint8_t *buf, size_t cap, uint16_t id, uint16_t flags);
/** Set rcode bits in the header (low 4 bits; extended rcode goes in OPT). */
void vg_pkt_set_rcode(struct vg_pkt *p, int rcode);
int vg_pkt_put_question(struct vg_pkt *p, const uint8_t *qname, uint16_t qtype, uint16_t qclass);
/**
 * Copy the question of a parsed client query as the client wrote it (case
 * kept), without decoding it again.  0 or VG_ENOSPACE / VG_EINVAL.
 */
int vg_pkt_copy_question(struct vg_pkt *p, const struct vg_query *q);
/** Move to section 1 (answer), 2 (authority) or 3 (additional). */
void vg_pkt_begin(struct vg_pkt *p, int section);
/** Append one RR; rdata is uncompressed and is compressed where RFC 3597 allows. */
int vg_pkt_put_rr(struct vg_pkt *p, const uint8_t *owner, uint16_t type, uint16_t rclass,
		  uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);
/** Append every record of @p rs with TTL @p ttl. */
int vg_pkt_put_rrset(struct vg_pkt *p, const struct vg_rrset *rs, uint32_t ttl);
/** Append an OPT record (moves to the additional section). */
int vg_pkt_put_opt(struct vg_pkt *p, uint16_t udp_size, int rcode, bool do_bit,
		   const uint8_t *opts, uint16_t optlen);
/** Write the section counts into the header; returns the message length. */
size_t vg_pkt_finish(struct vg_pkt *p);

/**
 * Build a header-only reply (with the question echoed when the query had a
 * usable one) carrying @p rcode: used for FORMERR/REFUSED/NOTIMP/SERVFAIL and
 * for truncation (@p tc).  Returns the length, or 0 when @p cap is too small.
 */
size_t vg_wire_error_reply(const struct vg_query *q, int rcode, bool tc, uint16_t udp_size,
			   uint8_t *buf, size_t cap);

/**
 * Write a standard query (RD per @p rd, EDNS with @p udp_size and DO per @p do_bit).
 * Returns the length or VG_ENOSPACE.
 */
int vg_wire_make_query(uint8_t *buf, size_t cap, uint16_t id, const uint8_t *qname,
		       uint16_t qtype, bool rd, uint16_t udp_size, bool do_bit);

#define VG_EDNS_PADDING 12 /* the Padding option (RFC 7830) */
#define VG_EDNS_COOKIE 10  /* the COOKIE option (RFC 7873) */
#define VG_PAD_ANSWER 468  /* block length for answers on encrypted transports (RFC 8467) */
#define VG_PAD_QUERY 128   /* and for queries */
/**
 * Pad the message in @p buf (@p len bytes, room for @p cap) with an EDNS
 * Padding option to a multiple of @p block bytes (at most 65535), when its
 * last record is the OPT record.  Returns the new length (@p len when it has
 * no OPT or there is no room).
 */
size_t vg_wire_pad(uint8_t *buf, size_t len, size_t cap, unsigned block);
/**
 * Append EDNS option @p code with @p dlen bytes of @p data to the message
 * in @p buf when its last record is the OPT record.  The new length (@p len
 * unchanged when it has no OPT or there is no room).
 */
size_t vg_wire_add_option(uint8_t *buf, size_t len, size_t cap, uint16_t code,
			  const uint8_t *data, uint16_t dlen);
/** The data of EDNS option @p code of query @p q: its length, or -1 if absent. */
int vg_edns_option(const struct vg_query *q, uint16_t code, const uint8_t **data);
/** The same for the EDNS facts @p e of any parsed message @p pkt (a vg_msg's). */
int vg_edns_find(const uint8_t *pkt, const struct vg_edns *e, uint16_t code,
		 const uint8_t **data);

/* ---------------------------------------------------------------- types */

/** "A", "AAAA", "HTTPS" ... or "TYPE65280" (RFC 3597) into @p buf.  Returns @p buf. */
const char *vg_type_to_str(uint16_t type, char *buf, size_t size);
/** A mnemonic or "TYPEnnn" (any case) to the type number: 0..65535, or VG_EPARSE. */
int vg_type_from_str(const char *s);

/* ---------------------------------------------------------------- answers */

/** What the client sees: its question, flags and EDNS, and the transport limit. */
struct vg_client_q {
	const struct vg_query *q;
	size_t limit;       /* largest answer for this transport */
	uint16_t edns_size; /* UDP size we advertise in our OPT */
};

/** Everything an answer consists of, for the shared writer. */
struct vg_answer_view {
	const char *ede_text;          /* EXTRA-TEXT; NULL: the standard text for the code;
					* with ede 0, the option is EDE 0 "Other Error" */
	const struct vg_rrset *add_soa; /* additional section (policy zone SOA), or NULL */
	bool tc;                       /* set TC (policy TCP-only over UDP) */
	int rcode;
	struct vg_rrset *const *ans;
	struct vg_rrset *const *ans_sig; /* parallel to ans (entries may be NULL), or NULL */
	unsigned nans;
	const struct vg_rrset *soa, *soa_sig;
	struct vg_rrset *const *auth;     /* NSEC/NSEC3 proofs */
	struct vg_rrset *const *auth_sig;
	unsigned nauth;
	bool ad;      /* the data is secure */
	uint16_t ede; /* Extended DNS Error (RFC 8914), 0 = none (unless ede_text) */
};

/**
 * The answer writer every answer goes through (cache hits, resolved
 * requests, policy rewrites): header, question (client's case), answer
 * RRsets, authority SOA and proofs, additional SOA, OPT with EDE.  DNSSEC
 * records go only to clients that set DO; AD only to clients that set DO or
 * AD.  An answer over cq->limit becomes a truncated (TC=1) reply.  Returns
 * the length (0 only when @p cap cannot hold even a header).
 */
size_t vg_answer_write(const struct vg_client_q *cq, const struct vg_answer_view *av,
		       uint8_t *buf, size_t cap);

/** The standard EXTRA-TEXT for Extended DNS Error @p code ("" if none). */
const char *vg_ede_text(uint16_t code);
/**
 * EXTRA-TEXT for EDE 13 (Cached Error) when the failure cached was answered
 * with EDE @p cause (0: none): "vigil: failure cached (RFC 9520): <why>".
 */
const char *vg_ede_cached_text(uint16_t cause);

#endif
