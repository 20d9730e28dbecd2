import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local listening on one address only (127.0.0.1 unless the
 * system property relay.dynamodb.host says otherwise).
 *
 * <p>DynamoDB Local's own ServerRunner takes a port but no host, and its Jetty
 * server listens on every interface. This builds the server from the same
 * command-line flags (-port, -inMemory, -dbPath, -sharedDb, ...), sets the
 * host on its Jetty connector before starting it, and never configures the
 * telemetry that ServerRunner.main would.
 *
 * <p>Compiled by services/services.sh against the jars of the DynamoDB Local
 * version pinned in pom.xml; if a new version changes the internals used here
 * it fails loudly rather than listen on every interface.
 */
public final class LoopbackDynamoDB {
    private LoopbackDynamoDB() {}

    /**
     * A Java agent that does nothing, so that this jar can stand where a
     * launcher expects an agent jar beside DynamoDB Local (LocalStack passes
     * {@code -javaagent:} a patch of its own, fetched at run time, that lifts
     * the limit of 20 global secondary indexes; Relay's table has two).
     */
    public static void premain(String agentArgs) {}

    public static void main(String[] args) throws Exception {
        String host = System.getProperty("relay.dynamodb.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Server server = jettyServer(proxy);
        int bound = 0;
        for (Connector c : server.getConnectors()) {
            if (c instanceof ServerConnector) {
                ((ServerConnector) c).setHost(host);
                bound++;
            }
        }
        if (bound == 0) {
            throw new IllegalStateException("DynamoDB Local's Jetty server has no ServerConnector to bind to " + host);
        }
        proxy.start();
        System.out.println("LoopbackDynamoDB: listening on " + host + " (" + String.join(" ", args) + ")");
        proxy.join();
    }

    private static Server jettyServer(DynamoDBProxyServer proxy) throws ReflectiveOperationException {
        for (Field f : DynamoDBProxyServer.class.getDeclaredFields()) {
            if (Server.class.isAssignableFrom(f.getType())) {
                f.setAccessible(true);
                return (Server) f.get(proxy);
            }
        }
        throw new NoSuchFieldException("no org.eclipse.jetty.server.Server field in " + DynamoDBProxyServer.class.getName());
    }
}
