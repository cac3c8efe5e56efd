package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mediagate/mediagate/internal/config"
	"github.com/mediagate/mediagate/internal/media"
	"github.com/mediagate/mediagate/internal/s3store"
)

// openStorage opens the blob storage cfg names and this process's spool,
// and checks that the storage can be used, so that a wrong setting is one
// line at start rather than a failure at the first upload. close releases
// the spool.
func openStorage(ctx context.Context, cfg config.Config) (st media.Storage, closeFn func() error, err error) {
	switch cfg.Storage {
	case config.StorageS3:
		s3, err := s3store.New(s3store.FromConfig(cfg))
		if err != nil {
			return st, nil, err
		}
		checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := s3.Check(checkCtx); err != nil {
			return st, nil, err
		}
		spool, err := media.OpenSpool(cfg.TmpDir())
		if err != nil {
			return st, nil, fmt.Errorf("data dir: %w", err)
		}
		return media.Storage{Blobs: s3, Spool: spool, MaxUpload: cfg.MaxUpload}, spool.Close, nil
	default:
		disk, err := media.OpenDisk(cfg)
		if err != nil {
			return st, nil, err
		}
		return media.Storage{Blobs: disk, Spool: disk.Spool, MaxUpload: cfg.MaxUpload}, disk.Close, nil
	}
}
