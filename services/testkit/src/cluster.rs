//! A private three-node JetStream cluster on loopback, for tests of replicated streams: the
//! shape production takes when one machine is not enough.

use anyhow::Context as _;

use crate::nats::{free_port, NatsServer};

/// Three `nats-server` nodes routed to one another, each with its own store; killed on drop.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts three nodes and waits until each accepts JetStream clients (which needs a
    /// JetStream meta leader, so a quorum).
    pub async fn start() -> anyhow::Result<NatsCluster> {
        let cluster_ports = [free_port()?, free_port()?, free_port()?];
        let routes = cluster_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::new();
        for (index, cluster_port) in cluster_ports.iter().enumerate() {
            let extra_config = format!(
                "server_name: carelog_test_n{node}\n\
                 cluster {{\n  name: carelog_test\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{routes}]\n}}",
                node = index + 1,
            );
            nodes.push(NatsServer::spawn_with(extra_config)?);
        }
        for node in &mut nodes {
            node.wait_until_ready()
                .await
                .context("wait for a cluster node to accept JetStream clients")?;
        }
        Ok(NatsCluster { nodes })
    }

    /// The client URLs of all nodes, comma-separated, as a client's server list.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client that knows every node, so it fails over when one stops.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        let urls: Vec<async_nats::ServerAddr> = self
            .nodes
            .iter()
            .map(|node| node.url().parse())
            .collect::<Result<_, _>>()
            .context("parse the cluster's URLs")?;
        async_nats::ConnectOptions::new()
            .connect(urls)
            .await
            .with_context(|| format!("connect to the test cluster at {}", self.urls()))
    }

    /// One node, to stop, kill or restart it.
    pub fn node_mut(&mut self, index: usize) -> Option<&mut NatsServer> {
        self.nodes.get_mut(index)
    }
}
