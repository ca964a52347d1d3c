package tensor

import "testing"

func TestArena(t *testing.T) {
	a := NewArena[float32]()
	b := a.Get(10, true)
	if len(b) != 10 {
		t.Fatalf("len %d", len(b))
	}
	for i := range b {
		b[i] = 1
	}
	a.Put(b)
	if a.Held() != 10 {
		t.Errorf("held %d, want 10", a.Held())
	}
	c := a.Get(10, true)
	if &c[0] != &b[0] {
		t.Error("buffer not reused")
	}
	for _, v := range c {
		if v != 0 {
			t.Fatal("reused buffer not zeroed")
		}
	}
	if d := a.Get(10, false); &d[0] == &c[0] {
		t.Error("one buffer handed out twice")
	}
	if e := a.Get(7, false); len(e) != 7 {
		t.Errorf("len %d, want 7", len(e))
	}
	if a.Held() != 0 {
		t.Errorf("held %d, want 0", a.Held())
	}
	a.Put(nil)
}
