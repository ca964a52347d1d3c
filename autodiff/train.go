package autodiff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bico-dev/bico/linalg"
	"github.com/bico-dev/bico/tensor"
)

// TrainConfig configures Train.
type TrainConfig struct {
	// Steps is the number of optimiser steps to run.
	Steps int
	// Backend computes every tape's matrix products; nil means
	// linalg.Default().
	Backend linalg.Backend
	// MaxGradNorm, when positive, clips the global gradient norm of the
	// parameters to it before each optimiser step.
	MaxGradNorm float64
	// Schedule, when set, multiplies the optimiser's learning rate (as it
	// was when Train started) by Schedule(step) before each step; the
	// optimiser must then implement LRSetter. Train restores the base rate
	// when it returns.
	Schedule Schedule
	// Progress, when set, is called after every Every-th step and after the
	// last one. Returning ErrStop ends training early without error; any
	// other error ends it with that error.
	Progress func(Progress) error
	// Every is the interval of Progress calls in steps; 0 means every step.
	Every int
}

// Progress reports the state of training after a step.
type Progress struct {
	Step     int           // 0-based index of the step just taken
	Steps    int           // TrainConfig.Steps
	Loss     float64       // loss of this step
	GradNorm float64       // global gradient norm before clipping
	LR       float64       // learning rate used, or NaN if unknown
	Elapsed  time.Duration // since Train started
}

// ErrStop, returned by a Progress callback, stops Train early with no error.
var ErrStop = errors.New("autodiff: stop training")

// Train runs cfg.Steps steps of gradient descent on params and returns the
// loss of every step taken.
//
// Each step makes a fresh tape on cfg.Backend and calls step with the step
// index and the tape; step records the forward pass (picking its own batch,
// setting the tape's Observer if it wants one) and returns a scalar loss.
// Train then runs Backward, clips the gradient norm when cfg.MaxGradNorm is
// positive, sets the scheduled learning rate, steps opt, zeroes the
// gradients of params and releases the tape. The tapes take their buffers
// from one arena, so a value the step computes must not be kept past the
// step. Gradients present on params when Train starts are dropped.
//
// Train stops with an error when step fails, when the loss is not a scalar
// or depends on no parameter, or when the loss or the gradient norm is not
// finite (the parameters are then left as they were before that step). It
// stops with ctx.Err() when ctx is cancelled, checked before each step.
// The losses of the steps taken are returned in every case.
func Train[T Float](ctx context.Context, cfg TrainConfig, params []*Var[T], opt Optimizer[T], step func(step int, t *Tape[T]) (*Var[T], error)) ([]float64, error) {
	be := cfg.Backend
	if be == nil {
		var err error
		if be, err = linalg.Default(); err != nil {
			return nil, err
		}
	}
	if cfg.Steps < 0 {
		return nil, fmt.Errorf("autodiff: train: %d steps", cfg.Steps)
	}
	lrs, _ := opt.(LRSetter)
	if cfg.Schedule != nil && lrs == nil {
		return nil, fmt.Errorf("autodiff: train: a schedule needs an optimiser with a settable learning rate, not %T", opt)
	}
	baseLR := math.NaN()
	if lrs != nil {
		baseLR = lrs.LearningRate()
		defer lrs.SetLearningRate(baseLR)
	}
	every := max(cfg.Every, 1)
	// The steps reuse their buffers: fresh memory costs page faults, and
	// more so when several trainings run at once.
	arena := tensor.NewArena[T]()
	start := time.Now()
	losses := make([]float64, 0, cfg.Steps)
	ZeroGrad(params)
	defer ZeroGrad(params)
	for s := 0; s < cfg.Steps; s++ {
		if err := ctx.Err(); err != nil {
			return losses, err
		}
		loss, norm, err := trainStep(be, arena, cfg.MaxGradNorm, params, s, step)
		if err != nil {
			return losses, err
		}
		lr := baseLR
		if cfg.Schedule != nil {
			lr = baseLR * cfg.Schedule(s)
			lrs.SetLearningRate(lr)
		}
		opt.Step(params)
		ZeroGrad(params)
		losses = append(losses, loss)
		if cfg.Progress != nil && ((s+1)%every == 0 || s == cfg.Steps-1) {
			err := cfg.Progress(Progress{Step: s, Steps: cfg.Steps, Loss: loss, GradNorm: norm, LR: lr, Elapsed: time.Since(start)})
			if errors.Is(err, ErrStop) {
				return losses, nil
			}
			if err != nil {
				return losses, err
			}
		}
	}
	return losses, nil
}

// trainStep records one forward pass, runs it backward and clips the
// gradients, returning the loss and the pre-clip gradient norm.
func trainStep[T Float](be linalg.Backend, arena *tensor.Arena[T], maxNorm float64, params []*Var[T], s int, step func(int, *Tape[T]) (*Var[T], error)) (float64, float64, error) {
	tp := NewTape[T](be)
	tp.Arena = arena
	defer tp.Release()
	lv, err := step(s, tp)
	if err != nil {
		return 0, 0, fmt.Errorf("autodiff: train step %d: %w", s, err)
	}
	if lv == nil || lv.Value.Numel() != 1 {
		return 0, 0, fmt.Errorf("autodiff: train step %d: loss is not a scalar", s)
	}
	loss := float64(lv.Value.Data[0])
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, 0, fmt.Errorf("autodiff: train step %d: loss is %v", s, loss)
	}
	if !lv.NeedsGrad() || tp.NoGrad {
		return loss, 0, fmt.Errorf("autodiff: train step %d: loss depends on no parameter", s)
	}
	tp.Backward(lv)
	norm := ClipGradNorm(params, maxNorm)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		ZeroGrad(params)
		return loss, norm, fmt.Errorf("autodiff: train step %d: gradient norm is %v", s, norm)
	}
	return loss, norm, nil
}
