package engraving

import "sync"

// Update is one live message for job and machine followers: a job's state
// and progress, or a machine's status.
type Update struct {
	// Kind is "job" or "machine".
	Kind    string         `json:"kind"`
	Job     *Job           `json:"job,omitempty"`
	Machine *MachineStatus `json:"machine,omitempty"`
}

// hub fans live updates out to followers of a topic ("job:ID", "machine:ID").
// A slow follower loses intermediate updates, never the channel: each
// channel holds the latest few and a send never blocks the dispatcher.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan Update]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan Update]struct{}{}} }

func (h *hub) subscribe(topic string) (<-chan Update, func()) {
	ch := make(chan Update, 16)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan Update]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[topic], ch)
		if len(h.subs[topic]) == 0 {
			delete(h.subs, topic)
		}
		h.mu.Unlock()
	}
}

func (h *hub) publish(topic string, u Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[topic] {
		select {
		case ch <- u:
		default:
			// Full: drop the oldest so the newest state gets through.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- u:
			default:
			}
		}
	}
}
