package harborhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DefaultDockerSocket is where the Docker Engine listens on a Harbor host.
const DefaultDockerSocket = "/var/run/docker.sock"

// dockerTimeout bounds one Docker Engine API request.
const dockerTimeout = 10 * time.Second

// Compose labels Docker Compose (v1 and v2) puts on the containers it creates.
const (
	LabelComposeProject    = "com.docker.compose.project"
	LabelComposeWorkingDir = "com.docker.compose.project.working_dir"
	LabelComposeService    = "com.docker.compose.service"
)

// Docker is a minimal Docker Engine API client: plain HTTP over the unix
// socket, unversioned paths (so any engine Harbor 2.x runs on answers).
type Docker struct {
	socket string
	hc     *http.Client
}

// NewDocker returns a client for the engine at socket; "" means DOCKER_HOST
// when it is a unix:// address, else DefaultDockerSocket.
func NewDocker(socket string) *Docker {
	if socket == "" {
		socket = DefaultDockerSocket
		if h, ok := strings.CutPrefix(os.Getenv("DOCKER_HOST"), "unix://"); ok && h != "" {
			socket = h
		}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
	return &Docker{socket: socket, hc: &http.Client{Transport: tr, Timeout: dockerTimeout}}
}

// Socket is the unix socket the client talks to.
func (d *Docker) Socket() string { return d.socket }

// Container is what harbor-import needs of a container.
type Container struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// State is Docker's: created, running, paused, restarting, exited, dead.
	State  string            `json:"state"`
	Image  string            `json:"image,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Networks maps each network the container is attached to to its IPv4
	// address there ("" when stopped).
	Networks map[string]string `json:"networks,omitempty"`
}

// Running reports whether the container is running.
func (c *Container) Running() bool { return c.State == "running" }

// ComposeDir is the docker-compose project directory the container was
// started from, "" when it was not started by Compose.
func (c *Container) ComposeDir() string { return c.Labels[LabelComposeWorkingDir] }

// ShortID is the first 12 hex digits of the ID, as `docker ps` shows it.
func (c *Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

// Address picks the container's address on Harbor's network: the network
// of its compose project ("<project>_harbor"), else a network named harbor
// or ending in _harbor, else the first other network (by name) with an
// address. It returns "" and "" when the container has no address.
func (c *Container) Address() (network, ip string) {
	names := make([]string, 0, len(c.Networks))
	for n, addr := range c.Networks {
		if addr != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", ""
	}
	sort.Strings(names)
	rank := func(n string) int {
		switch {
		case c.Labels[LabelComposeProject] != "" && n == c.Labels[LabelComposeProject]+"_harbor":
			return 0
		case n == "harbor" || strings.HasSuffix(n, "_harbor"):
			return 1
		}
		return 2
	}
	sort.SliceStable(names, func(i, j int) bool { return rank(names[i]) < rank(names[j]) })
	return names[0], c.Networks[names[0]]
}

// apiContainer is the part of GET /containers/json and
// GET /containers/{id}/json harbor-import reads.
type apiContainer struct {
	ID     string   `json:"Id"`
	Names  []string `json:"Names"` // list
	Name   string   `json:"Name"`  // inspect
	Image  string   `json:"Image"`
	State  any      `json:"State"` // a string in list, an object in inspect
	Labels map[string]string
	Config *struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	NetworkSettings *struct {
		Networks map[string]*struct {
			IPAddress string `json:"IPAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

func (a *apiContainer) container() *Container {
	c := &Container{ID: a.ID, Image: a.Image, Labels: a.Labels, Networks: map[string]string{}}
	switch {
	case a.Name != "":
		c.Name = strings.TrimPrefix(a.Name, "/")
	case len(a.Names) > 0:
		c.Name = strings.TrimPrefix(a.Names[0], "/")
	}
	switch s := a.State.(type) {
	case string:
		c.State = s
	case map[string]any:
		c.State, _ = s["Status"].(string)
	}
	if a.Config != nil {
		c.Labels = a.Config.Labels
		if a.Config.Image != "" {
			c.Image = a.Config.Image // inspect's top-level Image is the image ID
		}
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if a.NetworkSettings != nil {
		for n, ep := range a.NetworkSettings.Networks {
			if ep != nil {
				c.Networks[n] = ep.IPAddress
			}
		}
	}
	return c
}

// Containers lists the containers, running or not, whose names are among
// names (all containers when names is empty).
func (d *Docker) Containers(ctx context.Context, names ...string) ([]*Container, error) {
	q := url.Values{"all": {"1"}}
	if len(names) > 0 {
		pats := make([]string, len(names))
		for i, n := range names {
			// The engine matches names as regular expressions against "/name".
			pats[i] = "^/?" + regexp.QuoteMeta(n) + "$"
		}
		f, err := json.Marshal(map[string][]string{"name": pats})
		if err != nil {
			return nil, err
		}
		q.Set("filters", string(f))
	}
	var list []apiContainer
	if err := d.get(ctx, "/containers/json?"+q.Encode(), &list); err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*Container
	for i := range list {
		c := list[i].container()
		if len(names) == 0 || want[c.Name] {
			out = append(out, c)
		}
	}
	return out, nil
}

// Container finds the container named name and inspects it. It returns a
// wrapped ErrContainerNotFound when there is none.
func (d *Docker) Container(ctx context.Context, name string) (*Container, error) {
	list, err := d.Containers(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: no container named %s", ErrContainerNotFound, name)
	}
	var a apiContainer
	if err := d.get(ctx, "/containers/"+url.PathEscape(list[0].ID)+"/json", &a); err != nil {
		return nil, fmt.Errorf("inspecting container %s: %w", name, err)
	}
	return a.container(), nil
}

func (d *Docker) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w at %s: %w", ErrDockerUnavailable, d.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg struct {
			Message string `json:"message"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(body, &msg) != nil || msg.Message == "" {
			msg.Message = strings.TrimSpace(string(body))
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrContainerNotFound, msg.Message)
		}
		return fmt.Errorf("docker engine answered %s: %s", resp.Status, msg.Message)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decoding docker engine answer: %w", err)
	}
	return nil
}
