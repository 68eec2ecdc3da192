// A grpc-java server for the gateway's interop test: `java -cp <grpc-java jars> LibraryServer.java`.
// Serves library.v1.Library/GetBook and /StreamBooks (test/fixtures/library.proto) with messages encoded by hand,
// so no code generation is needed. GetBook answers Book{name, title} where the title reports what the server saw:
// the authorization metadata and the deadline's remaining ms; a name ending in "/slow" is answered only when the
// call is cancelled. StreamBooks writes `count` books. Prints {"port": N} once listening, then one line per
// cancelled call ("cancelled <method>").
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

public class LibraryServer {
  static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }
    public byte[] parse(InputStream stream) {
      try { return stream.readAllBytes(); } catch (IOException e) { throw new RuntimeException(e); }
    }
  };
  static final Context.Key<String> AUTHORIZATION = Context.key("authorization");
  static final Metadata.Key<String> AUTHORIZATION_HEADER = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  static MethodDescriptor<byte[], byte[]> method(String name, MethodDescriptor.MethodType type) {
    return MethodDescriptor.<byte[], byte[]>newBuilder().setType(type).setFullMethodName("library.v1.Library/" + name)
        .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
  }

  static void varint(ByteArrayOutputStream out, long value) {
    while ((value & ~0x7FL) != 0) { out.write((int) ((value & 0x7F) | 0x80)); value >>>= 7; }
    out.write((int) value);
  }

  static void text(ByteArrayOutputStream out, int field, String value) {
    byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
    out.write(field << 3 | 2);
    varint(out, utf8.length);
    out.write(utf8, 0, utf8.length);
  }

  static byte[] book(String name, String title) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    text(out, 1, name);
    text(out, 2, title);
    return out.toByteArray();
  }

  /** Field 1 of a message: GetBookRequest.name (a string) or StreamBooksRequest.count (a varint). */
  static Object firstField(byte[] message) {
    int i = 0;
    while (i < message.length) {
      int tag = message[i++] & 0xFF;
      long value = 0;
      int shift = 0;
      int b;
      do { b = message[i++] & 0xFF; value |= (long) (b & 0x7F) << shift; shift += 7; } while ((b & 0x80) != 0);
      if ((tag & 7) == 2) {
        String text = new String(message, i, (int) value, StandardCharsets.UTF_8);
        i += (int) value;
        if (tag >> 3 == 1) return text;
      } else if (tag >> 3 == 1) {
        return value;
      }
    }
    return null;
  }

  public static void main(String[] args) throws Exception {
    ServerServiceDefinition service = ServerServiceDefinition.builder("library.v1.Library")
        .addMethod(method("GetBook", MethodDescriptor.MethodType.UNARY), ServerCalls.asyncUnaryCall((request, observer) -> {
          String name = String.valueOf(firstField(request));
          ServerCallStreamObserver<byte[]> call = (ServerCallStreamObserver<byte[]>) observer;
          call.setOnCancelHandler(() -> System.out.println("cancelled GetBook " + name));
          if (name.endsWith("/slow")) return;
          Deadline deadline = Context.current().getDeadline();
          String seen = "auth=" + AUTHORIZATION.get() + ";deadline=" + (deadline == null ? "none" : deadline.timeRemaining(TimeUnit.MILLISECONDS));
          observer.onNext(book(name, seen));
          observer.onCompleted();
        }))
        .addMethod(method("StreamBooks", MethodDescriptor.MethodType.SERVER_STREAMING), ServerCalls.asyncServerStreamingCall((request, observer) -> {
          Object count = firstField(request);
          long n = count == null ? 0 : (Long) count;
          for (long i = 1; i <= n; i++) observer.onNext(book("shelves/1/books/" + i, "Book " + i));
          observer.onCompleted();
        }))
        .build();
    ServerInterceptor authorization = new ServerInterceptor() {
      public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        return Contexts.interceptCall(Context.current().withValue(AUTHORIZATION, headers.get(AUTHORIZATION_HEADER)), call, headers, next);
      }
    };
    Server server = ServerBuilder.forPort(0).addService(ServerInterceptors.intercept(service, authorization)).build().start();
    System.out.println("{\"port\":" + server.getPort() + "}");
    server.awaitTermination();
  }
}
