package luna

import (
	"context"
	"os"
	"path/filepath"
)

// ChrootImage is what lchroot needs of an osimage: its tree and the kernel
// version the tree's software is to see as `uname -r`.
type ChrootImage struct {
	Name    string
	ID      string // the osimage's id (hex): names lchroot's host-side lock
	Path    string // absolute, a directory
	KernVer string
}

// ChrootImage returns the osimage lchroot enters, checked: it exists, its
// path is an absolute directory other than /, and it has a kernel version.
func (s *Service) ChrootImage(ctx context.Context, name string) (ChrootImage, error) {
	img, err := s.OSImage(ctx, name)
	if err != nil {
		return ChrootImage{}, err
	}
	p := filepath.Clean(img.Path)
	if !filepath.IsAbs(p) || p == "/" {
		return ChrootImage{}, Failf("osimage '%s' has path '%s': lchroot needs an image tree, not the host's root", name, img.Path)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ChrootImage{}, Failf("The path of osimage '%s' cannot be used: %s: %v", name, p, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return ChrootImage{}, Failf("The path of osimage '%s' is not a directory: %s", name, p)
	}
	if img.KernVer == "" {
		return ChrootImage{}, Failf("osimage '%s' has no kernel version (luna osimage change %s --kernver VERSION)", name, name)
	}
	return ChrootImage{Name: img.Name, ID: img.ID.Hex(), Path: p, KernVer: img.KernVer}, nil
}
