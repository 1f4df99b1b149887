use clap::Parser;
use osfp::{
    cli::{self, Cli, Command},
    daemon,
};

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let res = match &cli.command {
        Command::Run(a) => daemon::start::run(a),
        Command::Pcap(a) => cli::pcap::run(a),
        Command::Db(c) => cli::db::run(c),
    };
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("osfp: {e:#}");
            std::process::exit(1);
        }
    }
}
