package grpcfeed

import (
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The well-known types the service's messages are, registered so that
	// the descriptor below resolves them.
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// protoFile is the name under which the service's descriptor is
// registered, as generated code would register feed.proto.
const protoFile = "lameduck/feed/v1/feed.proto"

// The descriptor of the service, written by hand as protoc would write it
// from:
//
//	syntax = "proto3";
//	package lameduck.feed.v1;
//	service Feed {
//	  rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue);
//	  rpc Wait(google.protobuf.Duration) returns (google.protobuf.Empty);
//	  rpc Subscribe(google.protobuf.StringValue) returns (stream google.protobuf.BytesValue);
//	}
//
// Registered in protobuf's global registry, it lets server reflection
// describe the service, so that grpcurl and ghz can call it without a
// .proto file.
func init() {
	str := func(s string) *string { return &s }
	method := func(name, in, out string, stream bool) *descriptorpb.MethodDescriptorProto {
		m := &descriptorpb.MethodDescriptorProto{Name: str(name), InputType: str(in), OutputType: str(out)}
		if stream {
			m.ServerStreaming = &stream
		}
		return m
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    str(protoFile),
		Package: str("lameduck.feed.v1"),
		Syntax:  str("proto3"),
		Dependency: []string{"google/protobuf/wrappers.proto", "google/protobuf/duration.proto",
			"google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: str("Feed"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Echo", ".google.protobuf.BytesValue", ".google.protobuf.BytesValue", false),
				method("Wait", ".google.protobuf.Duration", ".google.protobuf.Empty", false),
				method("Subscribe", ".google.protobuf.StringValue", ".google.protobuf.BytesValue", true),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic("grpcfeed: the service's descriptor: " + err.Error())
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		panic("grpcfeed: register the service's descriptor: " + err.Error())
	}
}
