package transfer

import "testing"

// TestRetargetArchitecture: across model types the output names the
// target family's class for the fine-tune's task.
func TestRetargetArchitecture(t *testing.T) {
	for _, c := range []struct{ ft, target, want string }{
		{"Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3ForCausalLM"},
		{"Qwen2ForSequenceClassification", "Qwen3Model", "Qwen3ForSequenceClassification"},
		{"BertForSequenceClassification", "RobertaForMaskedLM", "RobertaForSequenceClassification"},
		{"Dinov2ForImageClassification", "Dinov2WithRegistersModel", "Dinov2WithRegistersForImageClassification"},
		{"Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForCausalLM"},
		{"GPT2ForSequenceClassification", "GPT2LMHeadModel", "GPT2ForSequenceClassification"},
		{"GPT2LMHeadModel", "OtherModel", ""},
		{"LlamaForCausalLM", "", ""},
		{"LlamaForCausalLM", "Model", ""},
	} {
		got, ok := retargetArchitecture(c.ft, c.target)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("retargetArchitecture(%q, %q) = %q, %v; want %q", c.ft, c.target, got, ok, c.want)
		}
	}
}
