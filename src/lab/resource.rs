//! The resources a step declares it creates, for the cleanup ledger.
//!
//! In step metadata each is a one-key map naming the type, with the fields that identify it:
//!
//! ```yaml
//! creates:
//!   - ecs_service: { cluster: "${CLUSTER_NAME}", service: invsys-service }
//! ```
//!
//! Identifying fields are names (not generated ids) wherever AWS allows it, so that
//! `cleanup --scan` can find a resource the student created by hand.

use serde::{Deserialize, Serialize};

use super::vars;

/// A resource type and the fields that identify it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ResourceSpec {
    /// An ECS cluster.
    EcsCluster {
        /// Cluster name.
        cluster: String,
    },
    /// An ECS service.
    EcsService {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
    },
    /// The revisions of a task definition family that the lab registered.
    TaskDefinition {
        /// Family name.
        family: String,
    },
    /// An Elastic Load Balancing v2 load balancer.
    LoadBalancer {
        /// Load balancer name.
        name: String,
    },
    /// A listener of a load balancer.
    Listener {
        /// Load balancer name.
        load_balancer: String,
        /// Listener port.
        port: u16,
    },
    /// A listener rule (not the default rule).
    ListenerRule {
        /// Load balancer name.
        load_balancer: String,
        /// Listener port.
        port: u16,
        /// Rule priority.
        priority: u32,
    },
    /// A target group.
    TargetGroup {
        /// Target group name.
        name: String,
    },
    /// A Cloud Map namespace.
    CloudmapNamespace {
        /// Namespace name.
        name: String,
    },
    /// A Cloud Map service.
    CloudmapService {
        /// Namespace name.
        namespace: String,
        /// Service name.
        name: String,
    },
    /// An Application Auto Scaling scalable target.
    ScalableTarget {
        /// Service namespace (`ecs`).
        service_namespace: String,
        /// Resource id (`service/<cluster>/<service>`).
        resource_id: String,
        /// Scalable dimension (`ecs:service:DesiredCount`).
        dimension: String,
    },
    /// An Application Auto Scaling policy.
    ScalingPolicy {
        /// Service namespace (`ecs`).
        service_namespace: String,
        /// Resource id.
        resource_id: String,
        /// Scalable dimension.
        dimension: String,
        /// Policy name.
        policy_name: String,
    },
    /// A CloudWatch alarm.
    Alarm {
        /// Alarm name.
        name: String,
    },
    /// A CloudWatch dashboard.
    Dashboard {
        /// Dashboard name.
        name: String,
    },
    /// A CloudWatch Logs group.
    LogGroup {
        /// Log group name.
        name: String,
    },
    /// A DynamoDB table.
    DynamodbTable {
        /// Table name.
        table: String,
    },
    /// An IAM role (with its attached and inline policies detached on delete).
    IamRole {
        /// Role name.
        name: String,
    },
    /// A customer-managed IAM policy.
    IamPolicy {
        /// Policy name.
        name: String,
    },
    /// An IAM instance profile (its roles are taken out of it on delete).
    InstanceProfile {
        /// Instance profile name.
        name: String,
    },
    /// A Secrets Manager secret (deleted without a recovery window, so the lab can run again).
    Secret {
        /// Secret name.
        name: String,
    },
    /// A security group.
    SecurityGroup {
        /// Group name.
        name: String,
        /// VPC id (a variable such as `${VPC_ID}`).
        vpc: String,
    },
    /// A subnet, identified by its VPC and CIDR block.
    Subnet {
        /// VPC id.
        vpc: String,
        /// CIDR block.
        cidr: String,
    },
    /// A route table, identified by its VPC and `Name` tag.
    RouteTable {
        /// VPC id.
        vpc: String,
        /// The `Name` tag.
        name: String,
    },
    /// An internet gateway, identified by the VPC it is attached to.
    InternetGateway {
        /// VPC id.
        vpc: String,
    },
    /// A VPC, identified by its `Name` tag.
    Vpc {
        /// The `Name` tag.
        name: String,
    },
    /// A NAT gateway, identified by its VPC and `Name` tag.
    NatGateway {
        /// VPC id.
        vpc: String,
        /// The `Name` tag.
        name: String,
    },
    /// An Elastic IP address, identified by its `Name` tag.
    ElasticIp {
        /// The `Name` tag.
        name: String,
    },
    /// A VPC endpoint, identified by its VPC and service name.
    VpcEndpoint {
        /// VPC id.
        vpc: String,
        /// Service name: `com.amazonaws.<region>.secretsmanager`.
        service: String,
    },
    /// An EC2 instance, identified by its `Name` tag.
    Ec2Instance {
        /// The `Name` tag.
        name: String,
    },
    /// An EC2 launch template.
    LaunchTemplate {
        /// Launch template name.
        name: String,
    },
    /// An EC2 Auto Scaling group (deleted with its instances).
    AutoscalingGroup {
        /// Group name.
        name: String,
    },
    /// An ECS capacity provider (taken out of `cluster` before it is deleted).
    CapacityProvider {
        /// Capacity provider name.
        name: String,
        /// The cluster it is associated with, if any: AWS refuses to delete a capacity
        /// provider a cluster still uses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster: Option<String>,
    },
    /// An Amazon ECR repository (deleted with its images).
    EcrRepository {
        /// Repository name (`little-ecom/auth`).
        name: String,
    },
    /// An SSM Parameter Store parameter.
    SsmParameter {
        /// Parameter name (`/little-ecom/products/db-name`).
        name: String,
    },
    /// An ACM certificate, identified by its ARN among the certificates for `domain`.
    AcmCertificate {
        /// The certificate's domain name.
        domain: String,
    },
    /// A Route 53 hosted zone, identified by its zone id among the zones named `name`.
    HostedZone {
        /// Zone name (`services.example.com`).
        name: String,
    },
    /// A Route 53 record set, identified by its zone, name and type.
    DnsRecord {
        /// The name of the zone it lives in.
        zone: String,
        /// Record name (`api.services.example.com`).
        name: String,
        /// Record type (`A`, `CNAME`, ...).
        #[serde(rename = "type")]
        record_type: String,
    },
}

impl ResourceSpec {
    /// The type's name as written in metadata.
    pub fn kind(&self) -> &'static str {
        match self {
            ResourceSpec::EcsCluster { .. } => "ecs_cluster",
            ResourceSpec::EcsService { .. } => "ecs_service",
            ResourceSpec::TaskDefinition { .. } => "task_definition",
            ResourceSpec::LoadBalancer { .. } => "load_balancer",
            ResourceSpec::Listener { .. } => "listener",
            ResourceSpec::ListenerRule { .. } => "listener_rule",
            ResourceSpec::TargetGroup { .. } => "target_group",
            ResourceSpec::CloudmapNamespace { .. } => "cloudmap_namespace",
            ResourceSpec::CloudmapService { .. } => "cloudmap_service",
            ResourceSpec::ScalableTarget { .. } => "scalable_target",
            ResourceSpec::ScalingPolicy { .. } => "scaling_policy",
            ResourceSpec::Alarm { .. } => "alarm",
            ResourceSpec::Dashboard { .. } => "dashboard",
            ResourceSpec::LogGroup { .. } => "log_group",
            ResourceSpec::DynamodbTable { .. } => "dynamodb_table",
            ResourceSpec::IamRole { .. } => "iam_role",
            ResourceSpec::IamPolicy { .. } => "iam_policy",
            ResourceSpec::InstanceProfile { .. } => "instance_profile",
            ResourceSpec::Secret { .. } => "secret",
            ResourceSpec::SecurityGroup { .. } => "security_group",
            ResourceSpec::Subnet { .. } => "subnet",
            ResourceSpec::RouteTable { .. } => "route_table",
            ResourceSpec::InternetGateway { .. } => "internet_gateway",
            ResourceSpec::Vpc { .. } => "vpc",
            ResourceSpec::NatGateway { .. } => "nat_gateway",
            ResourceSpec::ElasticIp { .. } => "elastic_ip",
            ResourceSpec::VpcEndpoint { .. } => "vpc_endpoint",
            ResourceSpec::Ec2Instance { .. } => "ec2_instance",
            ResourceSpec::LaunchTemplate { .. } => "launch_template",
            ResourceSpec::AutoscalingGroup { .. } => "autoscaling_group",
            ResourceSpec::CapacityProvider { .. } => "capacity_provider",
            ResourceSpec::EcrRepository { .. } => "ecr_repository",
            ResourceSpec::SsmParameter { .. } => "ssm_parameter",
            ResourceSpec::AcmCertificate { .. } => "acm_certificate",
            ResourceSpec::HostedZone { .. } => "hosted_zone",
            ResourceSpec::DnsRecord { .. } => "dns_record",
        }
    }

    /// A short human name: `ecs_service flask-inventory-cluster/invsys-service`.
    pub fn describe(&self) -> String {
        let what = match self {
            ResourceSpec::EcsCluster { cluster } => cluster.clone(),
            ResourceSpec::EcsService { cluster, service } => format!("{cluster}/{service}"),
            ResourceSpec::TaskDefinition { family } => family.clone(),
            ResourceSpec::LoadBalancer { name }
            | ResourceSpec::TargetGroup { name }
            | ResourceSpec::CloudmapNamespace { name }
            | ResourceSpec::Alarm { name }
            | ResourceSpec::Dashboard { name }
            | ResourceSpec::LogGroup { name }
            | ResourceSpec::IamRole { name }
            | ResourceSpec::IamPolicy { name }
            | ResourceSpec::InstanceProfile { name }
            | ResourceSpec::Secret { name }
            | ResourceSpec::Vpc { name }
            | ResourceSpec::ElasticIp { name }
            | ResourceSpec::Ec2Instance { name }
            | ResourceSpec::LaunchTemplate { name }
            | ResourceSpec::AutoscalingGroup { name }
            | ResourceSpec::EcrRepository { name }
            | ResourceSpec::SsmParameter { name }
            | ResourceSpec::HostedZone { name } => name.clone(),
            ResourceSpec::CapacityProvider { name, cluster: Some(cluster) } => {
                format!("{name} (cluster {cluster})")
            }
            ResourceSpec::CapacityProvider { name, cluster: None } => name.clone(),
            ResourceSpec::AcmCertificate { domain } => domain.clone(),
            ResourceSpec::DnsRecord { zone, name, record_type } => format!("{name} {record_type} in {zone}"),
            ResourceSpec::NatGateway { vpc, name } => format!("{name} in {vpc}"),
            ResourceSpec::VpcEndpoint { vpc, service } => format!("{service} in {vpc}"),
            ResourceSpec::Listener { load_balancer, port } => format!("{load_balancer}:{port}"),
            ResourceSpec::ListenerRule { load_balancer, port, priority } => {
                format!("{load_balancer}:{port} priority {priority}")
            }
            ResourceSpec::CloudmapService { namespace, name } => format!("{name}.{namespace}"),
            ResourceSpec::ScalableTarget { resource_id, .. } => resource_id.clone(),
            ResourceSpec::ScalingPolicy { policy_name, .. } => policy_name.clone(),
            ResourceSpec::DynamodbTable { table } => table.clone(),
            ResourceSpec::SecurityGroup { name, vpc } => format!("{name} in {vpc}"),
            ResourceSpec::Subnet { vpc, cidr } => format!("{cidr} in {vpc}"),
            ResourceSpec::RouteTable { vpc, name } => format!("{name} in {vpc}"),
            ResourceSpec::InternetGateway { vpc } => format!("attached to {vpc}"),
        };
        format!("{} {what}", self.kind())
    }

    /// Where this type stands in a teardown: lower numbers are deleted first.
    ///
    /// Mirrors the dependencies AWS enforces: scaling before services, services before
    /// target groups and Cloud Map services, listeners before target groups and load
    /// balancers, network last but the cluster.
    pub fn teardown_rank(&self) -> u8 {
        match self {
            ResourceSpec::ScalingPolicy { .. } => 0,
            ResourceSpec::ScalableTarget { .. } => 1,
            ResourceSpec::Alarm { .. } | ResourceSpec::Dashboard { .. } | ResourceSpec::DnsRecord { .. } => 2,
            ResourceSpec::EcsService { .. } => 3,
            // A capacity provider goes once no service uses it, before its Auto Scaling group.
            ResourceSpec::CapacityProvider { .. } => 4,
            // Instances run the EC2 tasks; their template goes once they are gone.
            ResourceSpec::Ec2Instance { .. } | ResourceSpec::AutoscalingGroup { .. } => 5,
            ResourceSpec::LaunchTemplate { .. } => 6,
            ResourceSpec::ListenerRule { .. } => 7,
            ResourceSpec::Listener { .. } => 8,
            ResourceSpec::TargetGroup { .. } => 9,
            // A certificate stays in use until the listeners that serve it are gone.
            ResourceSpec::LoadBalancer { .. } | ResourceSpec::AcmCertificate { .. } => 10,
            ResourceSpec::CloudmapService { .. } => 11,
            ResourceSpec::CloudmapNamespace { .. } => 12,
            // A zone can be deleted once its records (rank 2) are; images once no task runs.
            ResourceSpec::TaskDefinition { .. }
            | ResourceSpec::HostedZone { .. }
            | ResourceSpec::EcrRepository { .. } => 13,
            // Secrets and parameters are read by tasks when they start; they are gone by now.
            ResourceSpec::LogGroup { .. }
            | ResourceSpec::Secret { .. }
            | ResourceSpec::SsmParameter { .. } => 14,
            // Instances (rank 5) are terminated: nothing uses their profile any more.
            ResourceSpec::InstanceProfile { .. } => 15,
            ResourceSpec::DynamodbTable { .. } => 15,
            ResourceSpec::IamPolicy { .. } | ResourceSpec::IamRole { .. } => 16,
            // Endpoints hold network interfaces in subnets and security groups.
            ResourceSpec::VpcEndpoint { .. } => 17,
            ResourceSpec::SecurityGroup { .. } => 18,
            // A NAT gateway holds its Elastic IP and its subnet until it is deleted.
            ResourceSpec::NatGateway { .. } => 19,
            ResourceSpec::ElasticIp { .. } => 20,
            ResourceSpec::Subnet { .. } => 21,
            ResourceSpec::RouteTable { .. } => 22,
            ResourceSpec::InternetGateway { .. } => 23,
            ResourceSpec::Vpc { .. } => 24,
            ResourceSpec::EcsCluster { .. } => 25,
        }
    }

    /// The same resource with every `${VAR}` replaced through `lookup`.
    pub fn resolve(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        vars::resolve_value(self, lookup)
    }

    /// The variable names the identifying fields reference.
    pub fn variables(&self) -> Vec<String> {
        vars::value_references(self)
    }
}
