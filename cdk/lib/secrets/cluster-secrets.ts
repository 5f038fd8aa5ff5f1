import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeNag } from '../nag/acknowledge.ts';

/** The RabbitMQ user of the engine on the master (the classic guide's `openquake` AMQP user). */
export const ENGINE_AMQP_USER = 'openquake';
/** The workers' RabbitMQ user: consumes tasks and answers remote control, never publishes a task. */
export const WORKER_AMQP_USER = 'oq-worker';
/** The bridge's least-privileged RabbitMQ user. */
export const BRIDGE_AMQP_USER = 'oq-bridge';
/** The WebUI's Django superuser, created at boot when the WebUI is on. */
export const WEBUI_ADMIN_USER = 'admin';
/**
 * Name suffixes of the secrets the master finds by name, `<stack name><suffix>`: the boot derives them from the
 * stack name it already has, so their ARNs need no room in the master's 16 KB of user-data.
 */
export const SECRET_NAME_SUFFIX = {
  workerBroker: '-oq-worker-broker',
  webUiAdmin: '-oq-webui-admin',
} as const;

/**
 * The cluster's generated credentials, kept in Secrets Manager (never in the template): the engine's, the
 * workers' and the bridge's AMQP users, the WebUI administrator, and the value written as `[dbserver] authkey`.
 * JSON keys are fixed by the cross-team contract. Characters that would need escaping in an AMQP URL or an INI
 * file are excluded.
 */
export class ClusterSecrets extends Construct {
  /** `{"username":"openquake","password":...}` */
  readonly broker: secretsmanager.Secret;
  /** `{"username":"oq-worker","password":...}` */
  readonly workerBroker: secretsmanager.Secret;
  /** `{"username":"oq-bridge","password":...}` */
  readonly bridgeBroker: secretsmanager.Secret;
  /**
   * `{"authkey":...}`: written as `[dbserver] authkey` because the classic guide lists it, but engine 3.11.5 never
   * reads it (the DbServer and the result receivers accept any connection): it protects nothing. The workers'
   * security group is what keeps others off ports 1908 and 1912-1920.
   */
  readonly dbserverAuthkey: secretsmanager.Secret;
  /**
   * `{"username":"admin","password":...}`: the WebUI's superuser. Always made: the WebUI is a run-time setting of
   * the master (turned on and off without touching its user-data, which holds this secret's ARN).
   */
  readonly webUiAdmin: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.broker = this.userSecret(
      'Broker',
      'AMQP password of the OpenQuake engine on the master',
      ENGINE_AMQP_USER,
    );
    const stackName = Stack.of(this).stackName;
    this.workerBroker = this.userSecret(
      'WorkerBroker',
      'AMQP password of the celery workers (consume only)',
      WORKER_AMQP_USER,
      `${stackName}${SECRET_NAME_SUFFIX.workerBroker}`,
    );
    this.bridgeBroker = this.userSecret(
      'BridgeBroker',
      'AMQP password of the oq-elastic bridge',
      BRIDGE_AMQP_USER,
    );
    this.dbserverAuthkey = new secretsmanager.Secret(this, 'DbserverAuthkey', {
      description:
        'oq-elastic: [dbserver] authkey value; engine 3.11.5 does not read it, so it is not an access control',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'authkey',
        passwordLength: 40,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.acknowledgeNoRotation(this.dbserverAuthkey);
    this.webUiAdmin = this.userSecret(
      'WebUiAdmin',
      'password of the WebUI superuser',
      WEBUI_ADMIN_USER,
      `${stackName}${SECRET_NAME_SUFFIX.webUiAdmin}`,
    );
  }

  private userSecret(
    id: string,
    description: string,
    username: string,
    secretName?: string,
  ): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      secretName,
      description: `oq-elastic: ${description}`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username }),
        generateStringKey: 'password',
        passwordLength: 32,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.acknowledgeNoRotation(secret);
    return secret;
  }

  private acknowledgeNoRotation(secret: secretsmanager.Secret): void {
    acknowledgeNag(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Not rotated automatically: the master reads it only at boot and running workers keep the old value. ' +
          'To rotate, put a new value in the secret, then reboot the master and roll the worker service.',
      },
    ]);
  }
}
