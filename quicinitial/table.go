package quicinitial

import (
	"net/netip"
	"sync"
	"time"

	"github.com/guanaco-fp/guanaco/fingerprint"
)

// Limits bounds the reassembly of client Initial packets.
type Limits struct {
	// MaxPending caps the connections whose ClientHello is being
	// reassembled or waits to be claimed by the accepted connection
	// (default 1024); beyond it the oldest entry is evicted.
	MaxPending int
	// MaxHelloBytes caps the CRYPTO bytes held per connection (default
	// 16 KiB; post-quantum browser hellos are about 2 KB).
	MaxHelloBytes int
	// TTL is how long an entry is kept (default 10 s).
	TTL time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxPending <= 0 {
		l.MaxPending = 1024
	}
	if l.MaxHelloBytes <= 0 {
		l.MaxHelloBytes = 16 << 10
	}
	if l.TTL <= 0 {
		l.TTL = 10 * time.Second
	}
	return l
}

// MinInitialDatagram is the smallest UDP payload carrying a client Initial
// (RFC 9000 §14.1); quic-go drops smaller ones, and so does Table.Datagram,
// so tiny datagrams cannot make entries.
const MinInitialDatagram = 1200

// CapturedHello is the ClientHello of one QUIC connection, decrypted from the
// client's Initial packets.
type CapturedHello struct {
	// Version is the QUIC version of the client's Initial packets.
	Version uint32
	// Raw is the ClientHello handshake message reassembled from the CRYPTO
	// frames (a QUIC hello has no TLS record layer).
	Raw []byte
	// Hello is the parsed hello (Transport quic); nil when Err is set.
	Hello *fingerprint.ClientHello
	Err   error
	// Packets is the number of Initial packets that carried the hello.
	Packets int
}

type helloKey struct {
	addr netip.AddrPort
	dcid string
}

type pendingHello struct {
	key     helloKey
	version uint32
	keys    *Keys
	r       *Hello
	packets int
	done    *CapturedHello
	created time.Time
}

// Table reassembles the ClientHellos of QUIC connections from the
// client Initial packets it is shown (capture.PacketConn shows it every
// datagram the QUIC server reads), keyed by client address and
// original destination connection ID, until the accepted connection takes
// its hello. It is bounded (Limits): entries beyond MaxPending evict
// the oldest, entries older than TTL are dropped.
type Table struct {
	lim     Limits
	now     func() time.Time
	mu      sync.Mutex
	entries map[helloKey]*pendingHello
	byAddr  map[netip.AddrPort][]*pendingHello // unfinished entries per client address
	order   []*pendingHello                    // creation order; evicted entries stay until skipped
	head    int
	scratch []byte
	stats   TableStats
}

// TableStats counts what the table did.
type TableStats struct {
	Initials      uint64 // client Initial packets seen
	Undecryptable uint64 // Initial packets that did not open
	Malformed     uint64 // packets or frames that did not parse
	Hellos        uint64 // ClientHellos completed
	Evicted       uint64 // entries dropped for MaxPending or TTL before being taken
}

// NewTable returns an empty table.
func NewTable(lim Limits) *Table {
	return &Table{lim: lim.withDefaults(), now: time.Now, entries: make(map[helloKey]*pendingHello),
		byAddr: make(map[netip.AddrPort][]*pendingHello)}
}

// Stats returns the counters.
func (t *Table) Stats() TableStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Len is the number of entries held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Bytes is the CRYPTO buffer memory held by the entries.
func (t *Table) Bytes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.entries {
		if e.r != nil {
			n += e.r.Size()
		}
		if e.done != nil {
			n += len(e.done.Raw)
		}
	}
	return n
}

// Take removes and returns the hello of the connection from addr whose
// client chose original destination connection ID odcid.
func (t *Table) Take(addr netip.AddrPort, odcid []byte) (*CapturedHello, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := helloKey{addr: normAddrPort(addr), dcid: string(odcid)}
	e, ok := t.entries[k]
	if !ok || e.done == nil {
		return nil, false
	}
	t.remove(e)
	return e.done, true
}

func normAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Datagram inspects one UDP datagram received from addr: client Initial
// packets (coalesced ones with the same destination connection ID too) are
// decrypted and their CRYPTO frames added to the connection's entry. It never modifies b and never fails:
// what does not parse is counted and ignored (quic-go decides what to do
// with the datagram).
func (t *Table) Datagram(b []byte, addr netip.AddrPort) {
	if len(b) < MinInitialDatagram || len(b) > MaxDatagram || b[0]&0x80 == 0 {
		return // short header, or not a size a client Initial datagram has
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expire(now)
	addr = normAddrPort(addr)
	var first []byte
	for n := 0; len(b) > 0 && b[0]&0x80 != 0 && n < maxCoalesced; n++ {
		h, need, err := ParseLongHeader(b)
		if err != nil || need > len(b) {
			t.stats.Malformed++
			return
		}
		if h.Type == TypeRetry {
			return
		}
		// Coalesced packets share the first one's destination connection ID
		// (RFC 9000 §12.2); the rest is ignored, so one datagram costs at
		// most one key derivation.
		if n == 0 {
			first = h.DCID
		} else if string(h.DCID) != string(first) {
			t.stats.Malformed++
			return
		}
		if h.Type == TypeInitial {
			t.initial(b[:h.End], h, addr, now)
		}
		b = b[h.End:]
	}
}

// maxCoalesced bounds the long-header packets read from one datagram (a
// client coalesces at most an Initial, a 0-RTT and a Handshake packet).
const maxCoalesced = 8

// initial handles one Initial packet. t.mu is held.
func (t *Table) initial(pkt []byte, h LongHeader, addr netip.AddrPort, now time.Time) {
	t.stats.Initials++
	k := helloKey{addr: addr, dcid: string(h.DCID)}
	e := t.entries[k]
	if e == nil {
		// Once the server's first Initial arrives the client sends to the
		// server's connection ID, still with the Initial keys of its
		// original one (RFC 9001 §5.2): the rest of a hello that spans
		// packets may come that way. Try the address's unfinished entries.
		for _, o := range t.byAddr[addr] {
			if plain, err := Open(o.keys, pkt, h, &t.scratch); err == nil {
				t.frames(o, plain)
				return
			}
		}
		keys, err := NewClientKeys(h.Version, h.DCID)
		if err != nil {
			t.stats.Malformed++
			return
		}
		plain, err := Open(keys, pkt, h, &t.scratch)
		if err != nil {
			t.stats.Undecryptable++
			return // not worth an entry
		}
		e = &pendingHello{key: k, version: h.Version, keys: keys, r: NewHello(t.lim.MaxHelloBytes), created: now}
		t.insert(e)
		t.frames(e, plain)
		return
	}
	if e.done != nil {
		return // a retransmission
	}
	plain, err := Open(e.keys, pkt, h, &t.scratch)
	if err != nil {
		t.stats.Undecryptable++
		return
	}
	t.frames(e, plain)
}

// frames adds the CRYPTO frames of a decrypted payload and completes the
// hello when it is whole. t.mu is held.
func (t *Table) frames(e *pendingHello, plain []byte) {
	e.packets++
	if err := CryptoFrames(plain, e.r.Add); err != nil {
		t.stats.Malformed++ // frames before the bad one are kept
	}
	msg, err := e.r.Message()
	switch {
	case err != nil:
		e.done = &CapturedHello{Version: e.version, Err: err, Packets: e.packets}
	case msg != nil:
		raw := append([]byte(nil), msg...)
		ch, perr := fingerprint.ParseClientHelloQUIC(raw)
		e.done = &CapturedHello{Version: e.version, Raw: raw, Hello: ch, Err: perr, Packets: e.packets}
		if perr != nil {
			e.done.Hello = nil
		}
		t.stats.Hellos++
	default:
		return
	}
	e.r, e.keys = nil, nil // release the buffer and keys
	t.unlinkAddr(e)
}

// insert adds e, evicting the oldest entries beyond MaxPending. t.mu is held.
func (t *Table) insert(e *pendingHello) {
	for len(t.entries) >= t.lim.MaxPending {
		t.evictOldest()
	}
	if l := t.byAddr[e.key.addr]; len(l) >= maxPendingPerAddr {
		t.remove(l[0])
		t.stats.Evicted++
	}
	t.entries[e.key] = e
	t.byAddr[e.key.addr] = append(t.byAddr[e.key.addr], e)
	t.order = append(t.order, e)
}

// maxPendingPerAddr bounds the unfinished entries of one client address
// (each is tried when a packet's connection ID is unknown).
const maxPendingPerAddr = 4

// remove deletes e from the table. t.mu is held.
func (t *Table) remove(e *pendingHello) {
	if t.entries[e.key] == e {
		delete(t.entries, e.key)
	}
	t.unlinkAddr(e)
}

// unlinkAddr drops e from its address's unfinished list. t.mu is held.
func (t *Table) unlinkAddr(e *pendingHello) {
	l := t.byAddr[e.key.addr]
	for i, o := range l {
		if o == e {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(t.byAddr, e.key.addr)
	} else {
		t.byAddr[e.key.addr] = l
	}
}

func (t *Table) evictOldest() {
	for t.head < len(t.order) {
		e := t.order[t.head]
		t.order[t.head] = nil
		t.head++
		if t.entries[e.key] == e {
			t.remove(e)
			t.stats.Evicted++
			break
		}
	}
	t.compact()
}

// expire drops entries older than TTL. t.mu is held.
func (t *Table) expire(now time.Time) {
	for t.head < len(t.order) {
		e := t.order[t.head]
		if t.entries[e.key] == e && now.Sub(e.created) < t.lim.TTL {
			break
		}
		if t.entries[e.key] == e {
			t.remove(e)
			t.stats.Evicted++
		}
		t.order[t.head] = nil
		t.head++
	}
	t.compact()
}

// compact reuses the order slice once its consumed head dominates it.
func (t *Table) compact() {
	if t.head > 64 && t.head*2 > len(t.order) {
		n := copy(t.order, t.order[t.head:])
		clear(t.order[n:])
		t.order = t.order[:n]
		t.head = 0
	}
}
