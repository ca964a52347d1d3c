package autodiff

import (
	"math"
)

// Optimizer updates parameters from their accumulated gradients.
type Optimizer[T Float] interface {
	// Step updates every parameter of params that has a gradient (p.Grad
	// not nil) and leaves the others alone. A parameter listed twice is
	// updated once. Step does not zero the gradients.
	Step(params []*Var[T])
}

// LRSetter is an optimiser whose learning rate may change between steps;
// Train needs it to apply a Schedule. AdamW and SGD implement it.
type LRSetter interface {
	LearningRate() float64
	SetLearningRate(lr float64)
}

// withGrad returns the distinct parameters of params that have a gradient.
func withGrad[T Float](params []*Var[T]) []*Var[T] {
	seen := make(map[*Var[T]]bool, len(params))
	out := make([]*Var[T], 0, len(params))
	for _, p := range params {
		if p == nil || p.Grad == nil || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), with the
// update of torch.optim.AdamW: for each parameter p with gradient g at its
// t-th step,
//
//	p ← p − LR·WeightDecay·p
//	m ← Beta1·m + (1−Beta1)·g,  v ← Beta2·v + (1−Beta2)·g²
//	p ← p − LR · (m/(1−Beta1ᵗ)) / (sqrt(v/(1−Beta2ᵗ)) + Eps)
//
// The moments are kept per parameter (keyed by the *Var) in float64, and
// each parameter counts its own steps, so a parameter that receives no
// gradient on some step is not moved and does not age. Use NewAdamW for the
// usual defaults; the zero value has all coefficients 0.
type AdamW[T Float] struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	// NoDecay, when set, exempts the parameters for which it returns true
	// from weight decay (commonly biases and norm parameters).
	NoDecay func(p *Var[T]) bool

	state map[*Var[T]]*adamState
}

type adamState struct {
	step int
	m, v []float64
}

// NewAdamW returns AdamW with torch's defaults: betas (0.9, 0.999), eps
// 1e-8, and the given learning rate and weight decay.
func NewAdamW[T Float](lr, weightDecay float64) *AdamW[T] {
	return &AdamW[T]{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// LearningRate returns the current learning rate.
func (o *AdamW[T]) LearningRate() float64 { return o.LR }

// SetLearningRate sets the learning rate of the next steps.
func (o *AdamW[T]) SetLearningRate(lr float64) { o.LR = lr }

// Reset forgets every parameter's moments and step count.
func (o *AdamW[T]) Reset() { o.state = nil }

// Step applies one AdamW update to every parameter with a gradient.
func (o *AdamW[T]) Step(params []*Var[T]) {
	if o.state == nil {
		o.state = map[*Var[T]]*adamState{}
	}
	for _, p := range withGrad(params) {
		st := o.state[p]
		if st == nil {
			n := p.Value.Numel()
			st = &adamState{m: make([]float64, n), v: make([]float64, n)}
			o.state[p] = st
		}
		st.step++
		bc1 := 1 - math.Pow(o.Beta1, float64(st.step))
		bc2 := 1 - math.Pow(o.Beta2, float64(st.step))
		decay := 1.0
		if o.WeightDecay != 0 && (o.NoDecay == nil || !o.NoDecay(p)) {
			decay = 1 - o.LR*o.WeightDecay
		}
		step := o.LR / bc1
		sqrtBC2 := math.Sqrt(bc2)
		pd, gd := p.Value.Data, p.Grad.Data
		for i, gv := range gd {
			g := float64(gv)
			m := o.Beta1*st.m[i] + (1-o.Beta1)*g
			v := o.Beta2*st.v[i] + (1-o.Beta2)*g*g
			st.m[i], st.v[i] = m, v
			pd[i] = T(float64(pd[i])*decay - step*m/(math.Sqrt(v)/sqrtBC2+o.Eps))
		}
	}
}

// SGD is stochastic gradient descent with momentum and L2 weight decay,
// with the update of torch.optim.SGD (no dampening, no Nesterov): for each
// parameter p with gradient g,
//
//	d ← g + WeightDecay·p
//	b ← d on the first step, Momentum·b + d afterwards
//	p ← p − LR·b
//
// With Momentum 0 no buffer is kept and b = d.
type SGD[T Float] struct {
	LR, Momentum, WeightDecay float64

	buf map[*Var[T]][]float64
}

// LearningRate returns the current learning rate.
func (o *SGD[T]) LearningRate() float64 { return o.LR }

// SetLearningRate sets the learning rate of the next steps.
func (o *SGD[T]) SetLearningRate(lr float64) { o.LR = lr }

// Reset forgets the momentum buffers.
func (o *SGD[T]) Reset() { o.buf = nil }

// Step applies one SGD update to every parameter with a gradient.
func (o *SGD[T]) Step(params []*Var[T]) {
	if o.Momentum != 0 && o.buf == nil {
		o.buf = map[*Var[T]][]float64{}
	}
	for _, p := range withGrad(params) {
		pd, gd := p.Value.Data, p.Grad.Data
		var b []float64
		first := false
		if o.Momentum != 0 {
			b = o.buf[p]
			if b == nil {
				b = make([]float64, len(pd))
				o.buf[p] = b
				first = true
			}
		}
		for i, gv := range gd {
			d := float64(gv) + o.WeightDecay*float64(pd[i])
			if b != nil {
				if first {
					b[i] = d
				} else {
					b[i] = o.Momentum*b[i] + d
				}
				d = b[i]
			}
			pd[i] = T(float64(pd[i]) - o.LR*d)
		}
	}
}

// GradNorm returns the Euclidean norm of all the gradients of params
// together (parameters without a gradient count as zero; one listed twice
// counts once), accumulated in float64.
func GradNorm[T Float](params []*Var[T]) float64 {
	s := 0.0
	for _, p := range withGrad(params) {
		for _, v := range p.Grad.Data {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// ClipGradNorm scales the gradients of params so that their global norm is
// at most maxNorm, as torch.nn.utils.clip_grad_norm_, and returns the norm
// before clipping. Gradients are left alone when maxNorm ≤ 0 or the norm is
// not finite (the caller should treat that step as failed).
func ClipGradNorm[T Float](params []*Var[T], maxNorm float64) float64 {
	norm := GradNorm(params)
	if maxNorm <= 0 || math.IsNaN(norm) || math.IsInf(norm, 0) || norm <= maxNorm {
		return norm
	}
	k := T(maxNorm / (norm + 1e-6))
	for _, p := range withGrad(params) {
		p.Grad.Scale(k)
	}
	return norm
}

// ZeroGrad drops the gradient of every parameter of params.
func ZeroGrad[T Float](params []*Var[T]) {
	for _, p := range params {
		if p != nil {
			p.ZeroGrad()
		}
	}
}

// Schedule gives the factor (usually in [0, 1]) by which the base learning
// rate is multiplied at a 0-based step.
type Schedule func(step int) float64

// ConstantSchedule keeps the base learning rate.
func ConstantSchedule() Schedule { return func(int) float64 { return 1 } }

// WarmupCosine rises linearly from 1/warmup to 1 over the first warmup steps
// (step s gets (s+1)/warmup), then follows a half cosine from 1 down to
// minFactor at step total; later steps stay at minFactor.
func WarmupCosine(warmup, total int, minFactor float64) Schedule {
	return func(s int) float64 {
		if s < warmup {
			return float64(s+1) / float64(warmup)
		}
		if total <= warmup || s >= total {
			return minFactor
		}
		p := float64(s-warmup) / float64(total-warmup)
		return minFactor + (1-minFactor)*0.5*(1+math.Cos(math.Pi*p))
	}
}

// WarmupLinear rises linearly over the first warmup steps as WarmupCosine,
// then decays linearly from 1 to 0 at step total (Hugging Face's
// get_linear_schedule_with_warmup, shifted so that step 0 is not 0).
func WarmupLinear(warmup, total int) Schedule {
	return func(s int) float64 {
		if s < warmup {
			return float64(s+1) / float64(warmup)
		}
		if total <= warmup || s >= total {
			return 0
		}
		return float64(total-s) / float64(total-warmup)
	}
}
