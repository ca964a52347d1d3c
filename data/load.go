package data

import (
	"fmt"
	"os"
	"strings"
)

// Load reads the dataset a spec names. The grammar:
//
//	spec   = source [ ":" split ]
//	split  = "train" | "test"              (idx sources only; default "test")
//	source = "mnist"                       the MNIST copy of the GoMNIST module (MNISTDir)
//	       | DIR                           a folder holding idx files
//	                                       (train-images-idx3-ubyte[.gz], t10k-…): MNIST format
//	       | DIR                           a folder of class sub-folders: LoadImageFolder,
//	                                       each image at the size of the first, channels automatic
//	       | FILE.safetensors              a dataset file: LoadSafetensors
//	       | FILE.jsonl                    a text dataset, one JSON object a line: LoadJSONL
//	                                       with no tokenizer and no pad token, so every line
//	                                       holds input_ids of one length (LoadText takes both)
//
// Examples: "mnist" (the 10000 test images), "mnist:train",
// "/data/mnist:train", "./flowers", "calib.safetensors", "calib.jsonl".
// The word "mnist" always means the built-in copy; write "./mnist" for a
// folder of that name. A path that exists as written is taken whole, even
// if it ends in ":train" or ":test".
func Load(spec string) (*Dataset, error) {
	return LoadWithOptions(spec, FolderOptions{})
}

// LoadWithOptions is Load with the options an image folder source is read
// with; other sources ignore them. A text model's caller, which has a
// tokenizer and a pad token, reads its .jsonl files with LoadText instead.
func LoadWithOptions(spec string, opts FolderOptions) (*Dataset, error) {
	if spec == "" {
		return nil, fmt.Errorf("data: empty dataset spec")
	}
	path, split := spec, ""
	if _, err := os.Stat(spec); err != nil {
		if i := strings.LastIndexByte(spec, ':'); i > 0 {
			if s := spec[i+1:]; s == "train" || s == "test" {
				path, split = spec[:i], s
			}
		}
	}
	if path == "mnist" {
		return LoadMNIST("", splitOr(split))
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data: dataset %q: %w", spec, err)
	}
	switch {
	case st.IsDir() && hasIDX(path):
		return LoadMNIST(path, splitOr(split))
	case split != "":
		return nil, fmt.Errorf("data: dataset %q: a split (%q) applies only to a folder of idx files", spec, split)
	case st.IsDir():
		return LoadImageFolder(path, opts)
	case strings.HasSuffix(strings.ToLower(path), ".safetensors"):
		return LoadSafetensors(path)
	case isJSONL(path):
		return LoadJSONL(path, TextOptions{PadID: NoPad})
	}
	return nil, fmt.Errorf("data: dataset %q: not a folder, a .safetensors file or a .jsonl file", spec)
}

func splitOr(s string) string {
	if s == "" {
		return "test"
	}
	return s
}
