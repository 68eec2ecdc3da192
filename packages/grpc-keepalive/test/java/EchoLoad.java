// A grpc-java client for interop tests: `java -cp <grpc-java jars> EchoLoad.java <port> <channels> <calls/s> <seconds>`.
// Calls test.Echo/Say at a steady rate over several channels (each its own connection), every call with a 10 s
// deadline, and prints one JSON line: calls that completed, failed (by status code) and the echoes that differed.
// Messages are encoded by hand (field 1, a string) so no code generation is needed.
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.MoreExecutors;

public class EchoLoad {
  static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }
    public byte[] parse(InputStream stream) {
      try { return stream.readAllBytes(); } catch (IOException e) { throw new RuntimeException(e); }
    }
  };
  static final MethodDescriptor<byte[], byte[]> SAY = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("test.Echo/Say")
      .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

  static byte[] message(String text) {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0x0a);
    out.write(utf8.length); // texts here are shorter than 128 bytes: one varint byte
    out.write(utf8, 0, utf8.length);
    return out.toByteArray();
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    int channels = Integer.parseInt(args[1]);
    int rate = Integer.parseInt(args[2]);
    int seconds = Integer.parseInt(args[3]);
    List<ManagedChannel> pool = new ArrayList<>();
    for (int i = 0; i < channels; i++) pool.add(NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build());
    int total = rate * seconds;
    CountDownLatch done = new CountDownLatch(total);
    AtomicInteger ok = new AtomicInteger();
    AtomicInteger wrong = new AtomicInteger();
    Map<String, Integer> failed = new TreeMap<>();
    long start = System.nanoTime();
    for (int i = 0; i < total; i++) {
      long due = start + (long) i * 1_000_000_000L / rate;
      long wait = due - System.nanoTime();
      if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
      ManagedChannel channel = pool.get(i % channels);
      byte[] request = message("call " + i);
      var call = channel.newCall(SAY, CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS));
      Futures.addCallback(ClientCalls.futureUnaryCall(call, request), new FutureCallback<byte[]>() {
        public void onSuccess(byte[] reply) {
          if (java.util.Arrays.equals(reply, request)) ok.incrementAndGet(); else wrong.incrementAndGet();
          done.countDown();
        }
        public void onFailure(Throwable error) {
          String code = Status.fromThrowable(error).getCode().name();
          synchronized (failed) { failed.merge(code, 1, Integer::sum); }
          done.countDown();
        }
      }, MoreExecutors.directExecutor());
    }
    done.await(30, TimeUnit.SECONDS);
    for (ManagedChannel channel : pool) channel.shutdownNow();
    StringBuilder codes = new StringBuilder("{");
    for (Map.Entry<String, Integer> entry : failed.entrySet()) {
      if (codes.length() > 1) codes.append(',');
      codes.append('"').append(entry.getKey()).append("\":").append(entry.getValue());
    }
    codes.append('}');
    System.out.println("{\"calls\":" + total + ",\"ok\":" + ok.get() + ",\"wrong\":" + wrong.get() + ",\"failed\":" + codes + "}");
  }
}
