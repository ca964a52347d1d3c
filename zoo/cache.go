package zoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bico-dev/bico/model"
)

// EnvCache is the environment variable that overrides DefaultDir.
const EnvCache = "BICO_CACHE"

// RecipeFile is the file of a cache entry that records its recipe.
const RecipeFile = "recipe.json"

// DefaultDir is the default cache root: $BICO_CACHE when set, else the
// folder "bico" in the user's cache folder (os.UserCacheDir, e.g.
// ~/.cache/bico), else "bico" in the system's temporary folder.
func DefaultDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "bico")
	}
	return filepath.Join(os.TempDir(), "bico")
}

// Entry is one model of the cache.
type Entry struct {
	// Dir is the entry's folder, <root>/<recipe key>.
	Dir    string
	Recipe Recipe
	Model  model.Model
	// Metrics are the numbers recorded with the model when it was built
	// (see CachedEntry); nil when none were.
	Metrics map[string]float64
	// Built is true when the model was trained by this call, false when it
	// was loaded.
	Built bool
	// Rebuilt, when not nil, is why an existing entry could not be loaded
	// and was replaced by a new build.
	Rebuilt error
}

// TestAccuracy returns the metric "test_accuracy" and whether it is set.
func (e *Entry) TestAccuracy() (float64, bool) {
	v, ok := e.Metrics[MetricTestAccuracy]
	return v, ok
}

// MetricTestAccuracy is the metric recipe.json holds at its top level as
// "test_accuracy".
const MetricTestAccuracy = "test_accuracy"

// recipeFile is the layout of recipe.json.
type recipeFile struct {
	Key          string             `json:"key"`
	Hash         string             `json:"hash"`
	Recipe       Recipe             `json:"recipe"`
	TestAccuracy *float64           `json:"test_accuracy,omitempty"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
}

// Cached returns the model of recipe r from the cache folder dir ("" for
// DefaultDir()), building it with build and storing it when the cache does
// not hold it. See CachedEntry.
func Cached(dir string, r Recipe, build func() (model.Model, error)) (model.Model, error) {
	e, err := CachedEntry(dir, r, build, nil)
	if err != nil {
		return nil, err
	}
	return e.Model, nil
}

// CachedEntry returns the entry of recipe r in the cache folder dir (""
// for DefaultDir()).
//
// An entry is the folder dir/<r.Key()> holding config.json,
// model.safetensors and recipe.json. When it is present and loads, its
// model is returned and build is not called. Otherwise build is called, and
// its model is saved atomically: written to a temporary folder in dir, then
// renamed into place, so a reader never sees half an entry and two
// processes building the same recipe both end with a complete one (the
// entry renamed first is kept, the later build is returned but not stored).
//
// metrics, when not nil, is called on a freshly built model; the numbers it
// returns are written to recipe.json (the metric "test_accuracy" as its
// top-level field test_accuracy, every metric under "metrics") and
// returned in Entry.Metrics, then and on every later load.
//
// A corrupt entry (a missing or unreadable file, a checkpoint that does not
// load, a recipe.json that is not the recipe's) is not trusted: it is
// removed and rebuilt, and Entry.Rebuilt says why. Errors while building or
// saving are returned.
func CachedEntry(dir string, r Recipe, build func() (model.Model, error), metrics func(model.Model) (map[string]float64, error)) (*Entry, error) {
	if dir == "" {
		dir = DefaultDir()
	}
	key := r.Key()
	path := filepath.Join(dir, key)
	var loadErr error
	if _, err := os.Stat(path); err == nil {
		e, err := loadEntry(path, r)
		if err == nil {
			return e, nil
		}
		loadErr = err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("zoo: cache entry %s: %w", path, err)
	}

	m, err := build()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("zoo: building %s returned no model", key)
	}
	e := &Entry{Dir: path, Recipe: r, Model: m, Built: true, Rebuilt: loadErr}
	if metrics != nil {
		if e.Metrics, err = metrics(m); err != nil {
			return nil, fmt.Errorf("zoo: scoring %s: %w", key, err)
		}
	}
	if err := store(dir, path, e); err != nil {
		return nil, err
	}
	return e, nil
}

// loadEntry loads the entry at path and checks that it is r's.
func loadEntry(path string, r Recipe) (*Entry, error) {
	raw, err := os.ReadFile(filepath.Join(path, RecipeFile))
	if err != nil {
		return nil, fmt.Errorf("zoo: cache entry %s: %w", path, err)
	}
	var rf recipeFile
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, fmt.Errorf("zoo: cache entry %s: %s: %w", path, RecipeFile, err)
	}
	if want := r.Hash(); rf.Hash != want || rf.Recipe.Hash() != want {
		return nil, fmt.Errorf("zoo: cache entry %s: %s records hash %s and a recipe of hash %s, want %s",
			path, RecipeFile, rf.Hash, rf.Recipe.Hash(), want)
	}
	m, err := model.Load(path)
	if err != nil {
		return nil, fmt.Errorf("zoo: cache entry %s: %w", path, err)
	}
	e := &Entry{Dir: path, Recipe: r, Model: m, Metrics: rf.Metrics}
	if rf.TestAccuracy != nil {
		if e.Metrics == nil {
			e.Metrics = map[string]float64{}
		}
		e.Metrics[MetricTestAccuracy] = *rf.TestAccuracy
	}
	return e, nil
}

// store saves e into a temporary folder of dir and renames it to path,
// replacing a corrupt entry found there.
func store(dir, path string, e *Entry) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	removeStale(dir, filepath.Base(path))
	tmp, err := os.MkdirTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := model.Save(tmp, e.Model, 0); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	rf := recipeFile{Key: filepath.Base(path), Hash: e.Recipe.Hash(), Recipe: e.Recipe}
	if len(e.Metrics) > 0 {
		rf.Metrics = e.Metrics
		if v, ok := e.Metrics[MetricTestAccuracy]; ok {
			rf.TestAccuracy = &v
		}
	}
	raw, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return fmt.Errorf("zoo: cache: %s of %s: %w", RecipeFile, path, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, RecipeFile), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	if e.Rebuilt != nil {
		// Move the corrupt entry aside first: a folder cannot be renamed
		// over a non-empty one.
		trash, err := os.MkdirTemp(dir, ".old-"+filepath.Base(path)+"-")
		if err == nil {
			if err = os.Rename(path, filepath.Join(trash, "entry")); err == nil || errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			defer os.RemoveAll(trash)
		}
		if err != nil {
			return fmt.Errorf("zoo: cache: removing the corrupt entry %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		// Another process may have stored the same recipe meanwhile: keep
		// its entry when it loads.
		if _, lerr := loadEntry(path, e.Recipe); lerr == nil {
			return nil
		}
		return fmt.Errorf("zoo: cache: %w", err)
	}
	return nil
}

// staleAge is the age past which a temporary folder of a build is taken to
// be left over by a process that died before renaming it.
const staleAge = 6 * time.Hour

// removeStale removes the temporary folders of key's entry (".tmp-…",
// ".old-…") older than staleAge.
func removeStale(dir, key string) {
	for _, prefix := range []string{".tmp-", ".old-"} {
		matches, _ := filepath.Glob(filepath.Join(dir, prefix+key+"-*"))
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && time.Since(st.ModTime()) > staleAge {
				os.RemoveAll(m)
			}
		}
	}
}
