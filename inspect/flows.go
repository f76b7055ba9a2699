package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/guanaco-fp/guanaco/fingerprint"
	"github.com/guanaco-fp/guanaco/quicinitial"
)

// flowKey identifies one direction of a TCP connection or UDP flow.
type flowKey struct {
	src, dst netip.AddrPort
	proto    uint8
}

// flow is the state of one direction. A finished flow (done) keeps no
// data: it stays as a small tombstone so that its later packets are
// ignored, until it is evicted.
type flow struct {
	key        flowKey
	prev, next *flow // recency list, most recent first
	first      int64 // packet number that created it
	done       bool
	counted    bool // counted in Stats (TCPStreams or QUICFlows)
	sb         streamBuf
	accounted  int // bytes of sb counted in flowTable.buffered

	// TCP: isn is the sequence number of the first data byte.
	isn     uint32
	synSeen bool
	// TCP streams that do not start with a hello: scanning is set while a
	// hello is looked for after a preamble, scanFrom is where the scan
	// resumes, helloAt the stream offset of the candidate being read.
	scanning bool
	scanFrom int
	helloAt  int

	// QUIC
	quic *quicConn
}

// flowTable tracks flows for one capture with bounded memory: at most
// MaxFlows flows and MaxBufferedBytes buffered bytes; beyond either the
// least recently active flow is dropped.
type flowTable struct {
	s          *session
	flows      map[flowKey]*flow
	head, tail *flow
	buffered   int
}

func newFlowTable(s *session) *flowTable {
	return &flowTable{s: s, flows: make(map[flowKey]*flow)}
}

// source names a flow: the file, then the client->server address pair.
func (t *flowTable) source(k flowKey) string {
	return fmt.Sprintf("%s#%s->%s", t.s.name, k.src, k.dst)
}

func (t *flowTable) unlink(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		t.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		t.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// touch marks f as the most recently active flow.
func (t *flowTable) touch(f *flow) {
	if t.head == f {
		return
	}
	if f.prev != nil || f.next != nil || t.tail == f {
		t.unlink(f)
	}
	f.prev, f.next = nil, t.head
	if t.head != nil {
		t.head.prev = f
	}
	t.head = f
	if t.tail == nil {
		t.tail = f
	}
}

// create adds a flow, evicting the least recently active one when full.
func (t *flowTable) create(m pktMeta, k flowKey) *flow {
	for len(t.flows) >= t.s.in.opts.MaxFlows && t.tail != nil {
		t.evict(t.tail)
	}
	f := &flow{key: k, first: m.index, sb: streamBuf{max: t.s.in.opts.MaxStreamBytes}}
	t.flows[k] = f
	t.touch(f)
	return f
}

// evict drops a flow, reporting it when it held the start of a hello.
func (t *flowTable) evict(f *flow) {
	if !f.done && t.pendingHello(f) {
		t.s.st.Evicted++
		t.s.problem(&Error{Source: t.source(f.key), Offset: int64(len(f.sb.data)), InStream: true,
			Err: fmt.Errorf("dropped before its ClientHello was complete: more than %d flows or %d buffered bytes",
				t.s.in.opts.MaxFlows, t.s.in.opts.MaxBufferedBytes)})
	}
	t.release(f)
	t.unlink(f)
	delete(t.flows, f.key)
}

// release frees a flow's buffer.
func (t *flowTable) release(f *flow) {
	f.sb.reset()
	if f.quic != nil {
		f.quic.crypto.reset()
		f.quic.scratch = nil
	}
	t.account(f)
}

// account updates the buffered byte count after f's buffers changed and
// evicts other flows while the total is over budget.
func (t *flowTable) account(f *flow) {
	size := f.sb.size()
	if f.quic != nil {
		size += f.quic.crypto.size()
	}
	t.buffered += size - f.accounted
	f.accounted = size
	for t.buffered > t.s.in.opts.MaxBufferedBytes && t.tail != nil && t.tail != f {
		t.evict(t.tail)
	}
}

// finishFlow marks f done and frees its buffer.
func (t *flowTable) finishFlow(f *flow) {
	f.done = true
	t.release(f)
}

// pendingHello reports whether f holds the start of a ClientHello that is
// not complete.
func (t *flowTable) pendingHello(f *flow) bool {
	if f.quic != nil {
		return f.quic.decrypted && f.quic.crypto.size() > 0
	}
	return len(f.sb.data) > f.helloAt && !f.scanning && claimsHello(f.sb.data[f.helloAt:])
}

// tcpSegment handles one TCP segment of direction k.
func (t *flowTable) tcpSegment(m pktMeta, k flowKey, seq uint32, syn, ack bool, payload []byte) error {
	f := t.flows[k]
	if syn && ack {
		// SYN-ACK: this direction is the server's; ignore it for good.
		if f == nil {
			f = t.create(m, k)
		}
		t.touch(f)
		t.finishFlow(f)
		return nil
	}
	if syn {
		isn := seq + 1
		switch {
		case f == nil:
			f = t.create(m, k)
			f.isn, f.synSeen = isn, true
		case f.synSeen && f.isn == isn:
			// A retransmitted SYN.
		case !f.synSeen && !f.done:
			// The SYN shows up after data of its own connection (capture
			// reordering): count the data from the SYN instead.
			t.rebase(f, isn)
		default:
			// A new connection on the same addresses and ports.
			if !f.done && t.pendingHello(f) {
				t.reportIncomplete(f)
			}
			t.release(f)
			*f = flow{key: k, first: m.index, prev: f.prev, next: f.next, sb: streamBuf{max: t.s.in.opts.MaxStreamBytes}}
			f.isn, f.synSeen = isn, true
		}
		t.touch(f)
		if len(payload) == 0 {
			if !f.done && len(f.sb.data) > 0 {
				return t.checkTCP(m, f)
			}
			return nil
		}
		// Data on a SYN (TCP Fast Open) starts at isn.
		seq = isn
	} else {
		if len(payload) == 0 {
			if f != nil {
				t.touch(f)
			}
			return nil
		}
		if f == nil {
			// No SYN seen: the stream starts at the first data seen.
			f = t.create(m, k)
			f.isn = seq
		}
		t.touch(f)
	}
	if f.done {
		return nil
	}
	if !f.counted {
		f.counted = true
		t.s.st.TCPStreams++
	}
	rel := int64(int32(seq - f.isn))
	grew := f.sb.add(rel, payload)
	t.account(f)
	if !grew {
		return nil
	}
	return t.checkTCP(m, f)
}

// rebase moves the data of a flow that started without a SYN to offsets
// counted from the SYN's isn.
func (t *flowTable) rebase(f *flow, isn uint32) {
	shift := int64(int32(f.isn - isn))
	old := f.sb
	f.sb = streamBuf{max: old.max}
	f.sb.add(shift, old.data)
	for _, p := range old.pending {
		f.sb.add(shift+int64(p.off), p.b)
	}
	f.isn, f.synSeen = isn, true
	f.scanning, f.scanFrom, f.helloAt = false, 0, 0
	t.account(f)
}

// checkTCP looks at the contiguous start of a TCP direction for a complete
// ClientHello: at the start of the stream, or, when the stream starts with
// something else (a STARTTLS exchange, a proxy handshake), at the first
// record start in the first PreambleWindow bytes whose lengths are
// consistent with a ClientHello (see helloCandidate).
func (t *flowTable) checkTCP(m pktMeta, f *flow) error {
	data := f.sb.data
	if !f.scanning && f.helloAt == 0 && !claimsHello(data) {
		f.scanning, f.scanFrom = true, 0
	}
	for {
		if f.scanning {
			at, c := scanHello(data, f.scanFrom)
			switch c {
			case candNo:
				t.s.st.NotTLS++
				t.finishFlow(f)
				return nil
			case candMore:
				f.scanFrom = at
				return nil
			}
			f.scanning, f.helloAt = false, at
		}
		st, need, err := recordHello(data[f.helloAt:], t.s.in.opts.MaxStreamBytes)
		switch st {
		case helloNeedMore:
			return nil
		case helloBad:
			if f.helloAt > 0 {
				// Not a hello after all: look further.
				f.scanning, f.scanFrom, f.helloAt = true, f.helloAt+1, 0
				continue
			}
			if notAHello(err) {
				t.s.st.NotTLS++
			} else {
				t.s.problem(&Error{Source: t.source(f.key), Packet: m.index, Offset: parseOffset(err), InStream: true, Err: err})
			}
			t.finishFlow(f)
			return nil
		}
		defer t.finishFlow(f)
		return t.emit(m, f, data[f.helloAt:f.helloAt+need], false)
	}
}

// emit parses a complete hello of flow f and passes it on.
func (t *flowTable) emit(m pktMeta, f *flow, b []byte, quic bool) error {
	parse := fingerprint.ParseClientHello
	if quic {
		parse = fingerprint.ParseClientHelloQUIC
	}
	ch, err := parse(b)
	if err != nil {
		t.s.problem(&Error{Source: t.source(f.key), Packet: m.index, Offset: parseOffset(err), InStream: true, Err: err})
		return nil
	}
	rec := NewRecord(t.source(f.key), ch)
	rec.Time = formatTime(m.ts)
	rec.Packet = m.index
	if f.helloAt > 0 {
		off := int64(f.helloAt)
		rec.Offset = &off
		rec.Preamble = DetectPreamble(f.sb.data[:f.helloAt])
		for i := range rec.Anomalies {
			rec.Anomalies[i].Offset += f.helloAt
		}
	}
	return t.s.emit(rec)
}

// udpDatagram handles one UDP datagram of direction k: QUIC v1/v2 client
// Initial packets are decrypted; everything else is ignored.
func (t *flowTable) udpDatagram(m pktMeta, k flowKey, b []byte) error {
	if len(b) < 7 || b[0]&0x80 == 0 || !quicinitial.VersionSupported(be32(b[1:])) {
		return nil
	}
	f := t.flows[k]
	if f != nil {
		t.touch(f)
		if f.done {
			if !t.newQUICConn(f, b) {
				return nil
			}
			// A new connection between the same ports: start over.
			t.release(f)
			*f = flow{key: k, first: m.index, prev: f.prev, next: f.next, sb: streamBuf{max: t.s.in.opts.MaxStreamBytes}}
		}
	}
	c := &quicConn{crypto: streamBuf{max: t.s.in.opts.MaxStreamBytes}}
	if f != nil && f.quic != nil {
		c = f.quic
	}
	var frameErr error
	for len(b) > 0 && b[0]&0x80 != 0 {
		h, need, err := quicinitial.ParseLongHeader(b)
		if err != nil || need > len(b) {
			break
		}
		if h.Type == quicInitial {
			switch err := c.initial(b[:h.End], h); {
			case errors.Is(err, quicinitial.ErrUndecryptable):
				t.s.st.Undecryptable++
			case err != nil && frameErr == nil:
				frameErr = err
			}
		}
		if h.Type == quicRetry {
			break
		}
		b = b[h.End:]
	}
	if !c.decrypted {
		return nil // not a client Initial: nothing worth remembering
	}
	if f == nil {
		f = t.create(m, k)
	}
	f.quic = c
	if !f.counted {
		f.counted = true
		t.s.st.QUICFlows++
	}
	t.account(f)
	if frameErr != nil {
		t.s.problem(&Error{Source: t.source(k), Packet: m.index, Offset: -1, Err: fmt.Errorf("QUIC Initial packet: %w", frameErr)})
	}
	st, need, err := bareHello(c.crypto.data, t.s.in.opts.MaxStreamBytes)
	switch st {
	case helloNeedMore:
		return nil
	case helloBad:
		t.s.problem(&Error{Source: t.source(k), Packet: m.index, Offset: parseOffset(err), InStream: true,
			Err: fmt.Errorf("QUIC CRYPTO stream: %w", err)})
		t.finishFlow(f)
		return nil
	}
	defer t.finishFlow(f)
	return t.emit(m, f, c.crypto.data[:need], true)
}

// newQUICConn reports whether the datagram b, on a flow whose hello was
// already found, starts a client Initial for a different connection ID.
func (t *flowTable) newQUICConn(f *flow, b []byte) bool {
	h, need, err := quicinitial.ParseLongHeader(b)
	if err != nil || need > len(b) || h.Type != quicInitial || f.quic == nil || f.quic.keys[0] == nil {
		return false
	}
	for _, k := range f.quic.keys {
		if k != nil && bytes.Equal(k.DCID, h.DCID) {
			return false
		}
	}
	return true
}

// reportIncomplete reports a flow whose ClientHello started but never
// completed.
func (t *flowTable) reportIncomplete(f *flow) {
	data, gap := f.sb.data, f.sb.gapAt()
	hello := recordHello
	what := "segment"
	start := f.helloAt
	if f.quic != nil {
		data, gap = f.quic.crypto.data, f.quic.crypto.gapAt()
		hello = bareHello
		what = "CRYPTO data"
		start = 0
	}
	_, need, _ := hello(data[start:], t.s.in.opts.MaxStreamBytes)
	err := truncatedError(len(data)-start, need)
	if gap >= 0 {
		err = fmt.Errorf("%w (%s missing at stream offset %d)", err, what, gap)
	}
	t.s.problem(&Error{Source: t.source(f.key), Offset: int64(len(data)), InStream: true, Err: err})
}

// finish reports, in order of first appearance, the flows whose
// ClientHello never completed, and frees everything.
func (t *flowTable) finish() {
	var open []*flow
	for _, f := range t.flows {
		if !f.done && t.pendingHello(f) {
			open = append(open, f)
		}
		if !f.done && f.scanning {
			t.s.st.NotTLS++ // ended inside the preamble window without a hello
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].first < open[j].first })
	for _, f := range open {
		t.reportIncomplete(f)
	}
	t.flows = make(map[flowKey]*flow)
	t.head, t.tail, t.buffered = nil, nil, 0
}
