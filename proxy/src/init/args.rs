//! `weft-proxy init`'s flags. The injector passes every setting as a flag
//! (see `weft_injector::containers::init_container`); init reads no
//! environment variables. Defaults are the mesh contract's. Ports are
//! 1-65535: 0 would make iptables redirect to nowhere.

use super::{
    config::{InitConfig, Ipv6Mode, parse_cidrs, parse_ports},
    error::InitError,
    mode::Mode,
};
use weft_api::contract::{ports, proxy_user};

/// The flags of `weft-proxy init` (its help text is on the subcommand in
/// `main.rs`).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct InitArgs {
    /// The proxy's inbound port: inbound TCP is redirected here.
    #[arg(long, value_name = "PORT", default_value_t = ports::INBOUND, value_parser = clap::value_parser!(u16).range(1..))]
    pub inbound_port: u16,
    /// The proxy's outbound port: the app's outbound TCP is redirected here.
    #[arg(long, value_name = "PORT", default_value_t = ports::OUTBOUND, value_parser = clap::value_parser!(u16).range(1..))]
    pub outbound_port: u16,
    /// The proxy's admin port: inbound TCP to it is never redirected (probes, metrics).
    #[arg(long, value_name = "PORT", default_value_t = ports::ADMIN, value_parser = clap::value_parser!(u16).range(1..))]
    pub admin_port: u16,
    /// The proxy's mTLS metrics port (weft-controller scrapes it): never redirected.
    #[arg(long, value_name = "PORT", default_value_t = ports::PROXY_METRICS, value_parser = clap::value_parser!(u16).range(1..))]
    pub metrics_port: u16,
    /// The UID the proxy runs as: its traffic is never redirected.
    #[arg(long, value_name = "UID", default_value_t = proxy_user::UID)]
    pub proxy_uid: u32,
    /// The GID the proxy runs as: its traffic is never redirected.
    #[arg(long, value_name = "GID", default_value_t = proxy_user::GID)]
    pub proxy_gid: u32,
    /// Comma-separated ports or ranges (8000-8010) whose inbound TCP reaches the app
    /// directly (annotation weft.io/skip-inbound-ports).
    #[arg(long, value_name = "PORTS", default_value = "")]
    pub skip_inbound_ports: String,
    /// Comma-separated ports or ranges whose outbound TCP leaves directly
    /// (annotation weft.io/skip-outbound-ports).
    #[arg(long, value_name = "PORTS", default_value = "")]
    pub skip_outbound_ports: String,
    /// Comma-separated IPv4/IPv6 CIDRs whose outbound TCP leaves directly
    /// (annotation weft.io/skip-outbound-cidrs).
    #[arg(long, value_name = "CIDRS", default_value = "")]
    pub skip_outbound_cidrs: String,
    /// IPv6 TCP: `redirect` to the proxy's IPv6 listeners, as IPv4; or `reject`
    /// (new IPv6 TCP connections are refused, for a pod that must not use IPv6).
    #[arg(long, value_enum, default_value_t = Ipv6Mode::Redirect)]
    pub ipv6: Ipv6Mode,
    /// iptables backend: `auto` picks the one whose tables already hold rules,
    /// else the one `iptables --version` reports.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub mode: Mode,
    /// Print the IPv4 and IPv6 rules and change nothing (runs no command).
    #[arg(long)]
    pub dry_run: bool,
}

/// `weft-proxy init` alone, for [`InitArgs::try_from_container_args`].
#[derive(clap::Parser)]
#[command(name = "weft-proxy", no_binary_name = true)]
enum InitOnly {
    Init(InitArgs),
}

impl InitArgs {
    /// Parses a container's `args` as the binary does (`["init", "--…", …]`),
    /// so the injector's tests can check that what it writes is accepted.
    pub fn try_from_container_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser as _;
        InitOnly::try_parse_from(args).map(|InitOnly::Init(a)| a)
    }

    /// The validated settings; a bad list names its flag and item.
    pub fn config(&self) -> Result<InitConfig, InitError> {
        let (v4, v6) =
            parse_cidrs(&self.skip_outbound_cidrs).map_err(|source| InitError::Config {
                flag: "--skip-outbound-cidrs",
                source,
            })?;
        Ok(InitConfig {
            inbound_port: self.inbound_port,
            outbound_port: self.outbound_port,
            admin_port: self.admin_port,
            metrics_port: self.metrics_port,
            proxy_uid: self.proxy_uid,
            proxy_gid: self.proxy_gid,
            skip_inbound_ports: parse_ports(&self.skip_inbound_ports).map_err(|source| {
                InitError::Config {
                    flag: "--skip-inbound-ports",
                    source,
                }
            })?,
            skip_outbound_ports: parse_ports(&self.skip_outbound_ports).map_err(|source| {
                InitError::Config {
                    flag: "--skip-outbound-ports",
                    source,
                }
            })?,
            skip_outbound_cidrs_v4: v4,
            skip_outbound_cidrs_v6: v6,
            ipv6: self.ipv6,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<InitArgs, clap::Error> {
        InitArgs::try_from_container_args(std::iter::once("init").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_contract() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.config().unwrap(), InitConfig::default());
        assert_eq!(args.mode, Mode::Auto);
        assert!(!args.dry_run);
    }

    /// Exactly what `weft_injector::containers::init_container` passes.
    #[test]
    fn accepts_the_injectors_arguments() {
        let args = parse(&[
            "--proxy-uid=2102",
            "--inbound-port=4143",
            "--outbound-port=4140",
            "--admin-port=4191",
            "--skip-inbound-ports=22,8000-8010",
            "--skip-outbound-ports=5432",
            "--skip-outbound-cidrs=10.96.0.1/32,fd00::/8",
        ])
        .unwrap();
        let c = args.config().unwrap();
        assert_eq!(c.skip_inbound_ports.len(), 2);
        assert_eq!(c.skip_outbound_ports.len(), 1);
        assert_eq!(c.skip_outbound_cidrs_v4.len(), 1);
        assert_eq!(c.skip_outbound_cidrs_v6.len(), 1);
        assert_eq!(c.proxy_gid, proxy_user::GID);
    }

    #[test]
    fn bad_lists_name_the_flag_and_item() {
        for (flag, value) in [
            ("--skip-inbound-ports", "22,ssh"),
            ("--skip-outbound-ports", "0"),
            ("--skip-outbound-cidrs", "10.0.0.0/8,10.0.0.0/40"),
        ] {
            let err = parse(&[&format!("{flag}={value}")])
                .unwrap()
                .config()
                .unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("invalid {flag}: ")), "{msg}");
            let item = value.rsplit(',').next().unwrap();
            assert!(msg.contains(&format!("{item:?}")), "{msg}");
        }
    }

    #[test]
    fn bad_scalars_are_refused_by_the_parser() {
        assert!(parse(&["--inbound-port=70000"]).is_err());
        assert!(parse(&["--admin-port=0"]).is_err());
        assert!(parse(&["--mode=iptables"]).is_err());
        assert!(parse(&["--ipv6=maybe"]).is_err());
        assert!(InitArgs::try_from_container_args(["proxy"]).is_err());
    }
}
