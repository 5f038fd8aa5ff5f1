import { RemovalPolicy } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeNag } from '../nag/acknowledge.ts';

/** The RabbitMQ user of the engine and the workers (the classic guide's `openquake` AMQP user). */
export const ENGINE_AMQP_USER = 'openquake';
/** The bridge's least-privileged RabbitMQ user. */
export const BRIDGE_AMQP_USER = 'oq-bridge';

/**
 * The cluster's generated credentials, kept in Secrets Manager (never in the template): the engine's AMQP
 * user, the bridge's AMQP user and the DbServer authkey. JSON keys are fixed by the cross-team contract.
 * Characters that would need escaping in an AMQP URL or an INI file are excluded.
 */
export class ClusterSecrets extends Construct {
  /** `{"username":"openquake","password":...}` */
  readonly broker: secretsmanager.Secret;
  /** `{"username":"oq-bridge","password":...}` */
  readonly bridgeBroker: secretsmanager.Secret;
  /** `{"authkey":...}` */
  readonly dbserverAuthkey: secretsmanager.Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.broker = this.userSecret(
      'Broker',
      'AMQP password of the OpenQuake engine and workers',
      ENGINE_AMQP_USER,
    );
    this.bridgeBroker = this.userSecret(
      'BridgeBroker',
      'AMQP password of the oq-elastic bridge',
      BRIDGE_AMQP_USER,
    );
    this.dbserverAuthkey = new secretsmanager.Secret(this, 'DbserverAuthkey', {
      description: 'oq-elastic: authkey of the OpenQuake DbServer',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'authkey',
        passwordLength: 40,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.acknowledgeNoRotation(this.dbserverAuthkey);
  }

  private userSecret(id: string, description: string, username: string): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
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
          'RabbitMQ and the DbServer read this credential at boot; rotating it needs the master reconfigured and every worker restarted, so it is rotated by redeploying, not by a rotation Lambda.',
      },
    ]);
  }
}
