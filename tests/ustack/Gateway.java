// SPDX-License-Identifier: GPL-2.0
/*
 * A device gateway with a fixed number of slots, for tests/ustack.bats: connections beyond
 * the slots are reset (SO_LINGER 0, then close) from rejectDeviceOverCapacity, on a pool
 * thread. The method is JIT-compiled before the first connection (a warm-up loop; run with
 * -Xbatch so that the compilation is done when the loop ends) so that the perf map names it.
 *
 *   java Gateway PORT SLOTS [ADDRESS]    (default address: loopback)
 */
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

public class Gateway {
	static void rejectDeviceOverCapacity(Socket s) throws IOException {
		if (s == null)
			return;
		s.setSoLinger(true, 0);
		s.close();
	}

	static void handle(Socket s, Semaphore slots) {
		try {
			if (!slots.tryAcquire()) {
				rejectDeviceOverCapacity(s);
				System.out.println("rejected " + Thread.currentThread().getName());
				return;
			}
			try (InputStream in = s.getInputStream()) {
				while (in.read() >= 0)
					;
			} finally {
				slots.release();
			}
		} catch (IOException e) {
			System.out.println("error " + e);
		}
	}

	public static void main(String[] args) throws Exception {
		int port = Integer.parseInt(args[0]);
		int nslots = Integer.parseInt(args[1]);
		Semaphore slots = new Semaphore(nslots);
		AtomicInteger n = new AtomicInteger();
		/* a fixed pool: the slots' threads and a few to turn the others away */
		ExecutorService pool = Executors.newFixedThreadPool(nslots + 4,
				r -> new Thread(r, "gw-pool-" + n.incrementAndGet()));

		for (int i = 0; i < 20000; i++)
			rejectDeviceOverCapacity(null);
		ServerSocket ss = new ServerSocket();
		InetAddress addr = args.length > 2 ? InetAddress.getByName(args[2]) :
				InetAddress.getLoopbackAddress();
		ss.bind(new InetSocketAddress(addr, port), 50);
		System.out.println("listening " + ProcessHandle.current().pid());
		for (;;) {
			Socket s = ss.accept();
			pool.execute(() -> handle(s, slots));
		}
	}
}
