// Package protocodec is the protobuf binary codec of Atrium's Go clients (tenantctl, the
// devstack's seeding and tests): connect's own, except that a message with generated decoding
// (UnmarshalVT, from protoc-gen-go-vtproto, which `make generate` runs for the catalog's protos)
// decodes with it. protobuf-go decodes google.protobuf.Struct, the catalog's entities, through
// reflection over Value's oneof: a page of 100 entities cost a Go client three times what the
// catalog spent answering it.
//
// Clients only: a client trusts the server it calls, and the generated code has neither
// protobuf-go's recursion limit nor its UTF-8 check of strings, so services keep connect's
// codec for requests.
package protocodec

import (
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// Codec is connect's "proto" codec with UnmarshalVT where a message has it.
type Codec struct{}

// ClientOption makes a connect client use Codec.
func ClientOption() connect.ClientOption { return connect.WithCodec(Codec{}) }

// vtDecoder is what protoc-gen-go-vtproto's "unmarshal" feature generates.
type vtDecoder interface {
	UnmarshalVT([]byte) error
}

func (Codec) Name() string   { return "proto" }
func (Codec) IsBinary() bool { return true }

func (Codec) Marshal(m any) ([]byte, error) {
	pm, err := message(m)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(pm)
}

// MarshalAppend lets connect reuse its buffers, as with its own codec.
func (Codec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	pm, err := message(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, pm)
}

// MarshalStable is used for requests sent as GET (connect's idempotent calls).
func (Codec) MarshalStable(m any) ([]byte, error) {
	pm, err := message(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pm)
}

func (Codec) Unmarshal(data []byte, m any) error {
	pm, err := message(m)
	if err != nil {
		return err
	}
	if vt, ok := m.(vtDecoder); ok {
		// UnmarshalVT merges into what m holds; proto.Unmarshal replaces it.
		proto.Reset(pm)
		err = vt.UnmarshalVT(data)
	} else {
		err = proto.Unmarshal(data, pm)
	}
	if err != nil {
		return fmt.Errorf("unmarshal into %T: %w", m, err)
	}
	return nil
}

func message(m any) (proto.Message, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("protocodec: %T is not a proto.Message", m)
	}
	return pm, nil
}
