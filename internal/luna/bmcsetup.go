package luna

import (
	"context"

	"github.com/clustervision/luna-go/internal/store"
)

// BMCSetupOpts are the options of `luna bmcsetup add|change`; nil = not given.
type BMCSetupOpts struct {
	User        *string
	Password    *string
	UserID      *int
	NetChannel  *int
	MgmtChannel *int
	Comment     *string
}

func (o BMCSetupOpts) fields() (map[string]any, error) {
	set := map[string]any{}
	if o.User != nil {
		if err := ValidateWord("BMC user", *o.User); err != nil {
			return nil, err
		}
		set["user"] = *o.User
	}
	if o.Password != nil {
		if err := ValidateSecret("BMC password", *o.Password); err != nil {
			return nil, err
		}
		set["password"] = *o.Password
	}
	ints := []struct {
		key    string
		v      *int
		lo, hi int
	}{{"userid", o.UserID, 1, 63}, {"netchannel", o.NetChannel, 0, 15}, {"mgmtchannel", o.MgmtChannel, 0, 15}}
	for _, i := range ints {
		if i.v != nil {
			if *i.v < i.lo || *i.v > i.hi {
				return nil, Errorf("Value '%s' should be in the range [%d..%d]", i.key, i.lo, i.hi)
			}
			set[i.key] = *i.v
		}
	}
	if o.Comment != nil {
		set["comment"] = *o.Comment
	}
	return set, nil
}

// AddBMCSetup creates a bmcsetup; unset options take 1.2's defaults.
func (s *Service) AddBMCSetup(ctx context.Context, name string, o BMCSetupOpts) error {
	if err := ValidateName(ObjectName, name); err != nil {
		return err
	}
	set, err := o.fields()
	if err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	b := store.BMCSetup{ID: store.NewID(), Name: name, UserID: 3, User: "ladmin", Password: "ladmin", NetChannel: 1, MgmtChannel: 1}
	if v, ok := set["user"]; ok {
		b.User = v.(string)
	}
	if v, ok := set["password"]; ok {
		b.Password = v.(string)
	}
	if v, ok := set["userid"]; ok {
		b.UserID = v.(int)
	}
	if v, ok := set["netchannel"]; ok {
		b.NetChannel = v.(int)
	}
	if v, ok := set["mgmtchannel"]; ok {
		b.MgmtChannel = v.(int)
	}
	return s.insert(ctx, store.BMCSetups, name, b)
}

// ChangeBMCSetup applies every given option (0 and empty values included).
// It holds the object's lock while it works (see locked).
func (s *Service) ChangeBMCSetup(ctx context.Context, name string, o BMCSetupOpts) error {
	return s.locked(ctx, store.BMCSetups, name, func(ctx context.Context, id store.ID) error { return s.changeBMCSetup(ctx, id, name, o) })
}

func (s *Service) changeBMCSetup(ctx context.Context, id store.ID, name string, o BMCSetupOpts) error {
	set, err := o.fields()
	if err != nil {
		return err
	}
	if err := s.Guard(ctx); err != nil {
		return err
	}
	var b store.BMCSetup
	if err := s.byID(ctx, store.BMCSetups, id, name, &b); err != nil {
		return err
	}
	return s.st.Set(ctx, store.BMCSetups, b.ID, set)
}

// BMCSetup loads a bmcsetup by name.
func (s *Service) BMCSetup(ctx context.Context, name string) (*store.BMCSetup, error) {
	var b store.BMCSetup
	if err := s.load(ctx, store.BMCSetups, name, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// DeleteBMCSetup removes a bmcsetup no group uses.
func (s *Service) DeleteBMCSetup(ctx context.Context, name string) error {
	if err := s.Guard(ctx); err != nil {
		return err
	}
	b, err := s.BMCSetup(ctx, name)
	if err != nil {
		return err
	}
	return s.deleteUnused(ctx, store.BMCSetups, b.Name, b.ID, b)
}
