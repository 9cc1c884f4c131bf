package importer

import (
	"context"

	"github.com/harbor-import/harbor-import/fsmove"
	"github.com/opencontainers/go-digest"
)

// linkQueue is how many planned link files may wait for a worker while the
// planner goes on (~250 bytes each).
const linkQueue = 4096

// linkStager stages a plan's link files (each planned once:
// planner.addLink) on stageWorkers goroutines, as they are handed to it.
type linkStager struct {
	p *plan
	*workers[plannedLink]
}

// plannedLink is a link file to stage: its path under v2 and its target.
type plannedLink struct {
	rel    string
	target digest.Digest
}

// startLinkStager starts staging links for placer; up to queue of them wait
// for a worker before add blocks. Call wait, or stop, when done.
func startLinkStager(ctx context.Context, placer *fsmove.Placer, p *plan, queue int) *linkStager {
	return &linkStager{p: p, workers: startWorkers(ctx, queue, func(ctx context.Context, l plannedLink) error {
		_, err := placer.StageLink(ctx, l.rel, l.target)
		return err
	})}
}

// stage hands the plan's links p.links[first:first+len(links)] to the
// workers. Once the staging has stopped, it returns why.
func (s *linkStager) stage(first int, links []planLink) error {
	for i, l := range links {
		rel, target, err := s.p.rel(l)
		if err != nil {
			return err
		}
		if !s.workers.add(uint64(first+i), plannedLink{rel, target}) {
			return s.wait()
		}
	}
	return nil
}
