package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// ExecutablePrefix is the file name prefix of metadata plugin executables:
// the backend NAME is served by "chronik-metadata-NAME" (plus ".exe" on
// Windows).
const ExecutablePrefix = "chronik-metadata-"

// ErrPluginNotFound is returned (wrapped, with every place looked) by
// Discover when no executable is found for a name, or when an explicit path
// is not an executable file.
var ErrPluginNotFound = errors.New("plugins: metadata plugin not found")

// DiscoveredPlugin is one plugin executable found by DiscoverAll.
type DiscoveredPlugin struct {
	// Name is the backend name (the file name without ExecutablePrefix).
	Name string
	// Path is the executable's path.
	Path string
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// Discover resolves a backend name or a path to a plugin executable.
//
// A value containing a path separator is a path: it is returned made
// absolute if it names an executable file. Otherwise "chronik-metadata-NAME"
// is looked up, in this order, in pluginDir (if non-empty), in the directory
// of the running executable (os.Executable), and in each absolute directory
// of $PATH; the first executable regular file wins. The error wraps
// ErrPluginNotFound and names every place looked. Discover only reads the
// file system; it is safe for concurrent use.
func Discover(name, pluginDir string) (string, error) {
	return discover(name, searchDirs(pluginDir, os.Executable, os.Getenv("PATH")))
}

// DiscoverAll lists every "chronik-metadata-*" executable in the places
// Discover looks (pluginDir, the running executable's directory, $PATH), the
// first one found per name winning, sorted by name. A pluginDir that cannot
// be read is an error; missing or unreadable directories of the other
// places are skipped.
func DiscoverAll(pluginDir string) ([]DiscoveredPlugin, error) {
	return discoverAll(pluginDir, searchDirs(pluginDir, os.Executable, os.Getenv("PATH")))
}

// searchPlace is one directory Discover looks in, with what it is.
type searchPlace struct {
	what string // "plugin dir", "executable dir", "PATH"
	dir  string
}

// searchDirs returns the places to look, in order, without duplicates.
func searchDirs(pluginDir string, executable func() (string, error), pathEnv string) []searchPlace {
	var places []searchPlace
	seen := map[string]bool{}
	add := func(what, dir string) {
		clean := filepath.Clean(dir)
		if seen[clean] {
			return
		}
		seen[clean] = true
		places = append(places, searchPlace{what: what, dir: dir})
	}
	if pluginDir != "" {
		add("plugin dir", pluginDir)
	}
	if exe, err := executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		add("executable dir", filepath.Dir(exe))
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		// Relative PATH entries are ignored, as os/exec does (exec.ErrDot).
		if dir != "" && filepath.IsAbs(dir) {
			add("PATH", dir)
		}
	}
	return places
}

func discover(name string, places []searchPlace) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty backend name", ErrPluginNotFound)
	}
	if strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator) {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("%w: %w", ErrPluginNotFound, err)
		}
		abs, err := filepath.Abs(name)
		if err != nil {
			return "", fmt.Errorf("plugins: plugin path %s: %w", name, err)
		}
		return abs, nil
	}
	file := ExecutablePrefix + name + exeSuffix()
	looked := make([]string, 0, len(places))
	for _, p := range places {
		path := filepath.Join(p.dir, file)
		if checkExecutable(path) == nil {
			return path, nil
		}
		looked = append(looked, fmt.Sprintf("%s %s", p.what, p.dir))
	}
	if len(looked) == 0 {
		return "", fmt.Errorf("%w: %s: no place to look (no plugin dir, no executable dir, empty PATH)", ErrPluginNotFound, file)
	}
	return "", fmt.Errorf("%w: %s is in none of: %s", ErrPluginNotFound, file, strings.Join(looked, ", "))
}

// checkExecutable returns nil if path is a regular file that may be executed.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: not executable", path)
	}
	return nil
}

func discoverAll(pluginDir string, places []searchPlace) ([]DiscoveredPlugin, error) {
	found := map[string]DiscoveredPlugin{}
	for _, p := range places {
		entries, err := os.ReadDir(p.dir)
		if err != nil {
			if pluginDir != "" && p.what == "plugin dir" {
				return nil, fmt.Errorf("plugins: reading plugin dir: %w", err)
			}
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), ExecutablePrefix)
			if !ok {
				continue
			}
			if s := exeSuffix(); s != "" {
				if name, ok = strings.CutSuffix(name, s); !ok {
					continue
				}
			}
			if name == "" || e.Type()&fs.ModeDir != 0 {
				continue
			}
			if _, dup := found[name]; dup {
				continue
			}
			path := filepath.Join(p.dir, e.Name())
			if checkExecutable(path) != nil {
				continue
			}
			found[name] = DiscoveredPlugin{Name: name, Path: path}
		}
	}
	out := make([]DiscoveredPlugin, 0, len(found))
	for _, d := range found {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
